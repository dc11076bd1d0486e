"""What the benchmark measures. Every loop is bounded in count and in time.

Latencies are taken on one clock (time.perf_counter) in this process: send → ack on the
sending socket, send → receive on the peer's socket. Open-loop scenarios measure from
the moment a message was due, not from when it was emitted, so a late generator cannot
hide a slow server (coordinated omission). CPU figures come from /proc for the server
and from time.process_time() for this process (the generator) over the same window.
"""
import asyncio
import math
import time
from collections import Counter

import sqlalchemy

from . import people, polling, wire
from .targets import cpu_of, cpu_seconds, rss_kb

now = time.perf_counter


# --- small statistics --------------------------------------------------------------------------
def percentile(sorted_values, q):
    """Linear-interpolated percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def latency_summary(seconds):
    """n, p50, p99, p99.9, max and mean in milliseconds."""
    values = sorted(seconds)
    if not values:
        return {"n": 0}
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {"n": len(values), "p50_ms": ms(percentile(values, 50)),
            "p99_ms": ms(percentile(values, 99)), "p999_ms": ms(percentile(values, 99.9)),
            "max_ms": ms(values[-1]), "mean_ms": ms(sum(values) / len(values))}


class Meter:
    """Wall time and CPU of the server and of this process over one window.

    :param helpers: a function listing the pids of the database's own processes that
        serve the server (PostgreSQL backends), whose CPU is reported apart; or None.
    """

    def __init__(self, server_pid, helpers=None):
        self.server_pid = server_pid
        self.helpers = helpers
        self.started = None
        self.result = None
        self.window = None

    def start(self):
        helpers = cpu_of(self.helpers()) if self.helpers else {}
        self.started = (now(), cpu_seconds(self.server_pid), time.process_time(), helpers)

    def stop(self):
        wall0, server0, gen0, helpers0 = self.started
        wall = now() - wall0
        server = cpu_seconds(self.server_pid) - server0
        gen = time.process_time() - gen0
        self.result = {"wall_s": round(wall, 3), "server_cpu_s": round(server, 3),
                       "server_cpu_pct": round(100 * server / wall, 1),
                       "generator_cpu_pct": round(100 * gen / wall, 1)}
        if self.helpers:
            # Backends that appeared during the window count from zero (they are new).
            helpers1 = cpu_of(set(self.helpers()) | set(helpers0))
            used = sum(t - helpers0.get(pid, 0.0) for pid, t in helpers1.items())
            self.result["database_cpu_s"] = round(used, 3)
            self.result["database_cpu_pct"] = round(100 * used / wall, 1)
        self.window = (wall0, wall0 + wall)
        return self.result


# --- the sockets of a target ----------------------------------------------------------------------
TRANSPORTS = {"websocket": wire.Socket, "polling": polling.PollingSocket}


async def open_many(sockets, concurrency=16, timeout=180.0):
    """Connect `sockets` a few at a time, bounded in time; return (opened, failure texts)."""
    opened, failures = [], []
    slots = asyncio.Semaphore(concurrency)
    deadline = now() + timeout

    async def open_one(sock):
        async with slots:
            if now() >= deadline:
                failures.append("out of time")
                return
            try:
                await sock.connect(min(30.0, max(deadline - now(), 0.1)))
                opened.append(sock)
            except wire.WireError as error:
                failures.append(str(error))

    await asyncio.gather(*(open_one(sock) for sock in sockets))
    return opened, failures


class Target:
    """A running server, its pairs of friends and one open socket per person.

    :param transport: "websocket" or "polling" (Engine.IO long-polling), for every socket.
    """

    def __init__(self, name, process, pairs, ssl_context, compress=0, database_pids=None,
                 transport="websocket"):
        self.name = name
        self.socket_class = TRANSPORTS[transport]
        self.database_pids = database_pids  # PostgreSQL: the backends' pids, for Meter
        self.process = process
        self.url = process.url
        self.database_url = process.database_url
        self.pairs = pairs
        self.ssl_context = ssl_context
        self.compress = compress
        self.http = None
        self.sockets = []  # (sender socket, receiver socket) per pair

    def new_socket(self, person, on_message=None, compress=None):
        compress = self.compress if compress is None else compress
        return self.socket_class(self.http, self.url, self.ssl_context, cookie=person.cookie,
                           query=person.query, on_message=on_message, compress=compress)

    async def open(self, timeout=120.0):
        """Open the sender's and the receiver's socket of every pair (a few at a time)."""
        self.http = wire.http_session()
        wanted = [(self.new_socket(p.sender), self.new_socket(p.receiver)) for p in self.pairs]
        self.sockets = wanted
        _opened, failures = await open_many([s for both in wanted for s in both],
                                            timeout=timeout)
        if failures:
            raise wire.WireError(f"{len(failures)} of {2 * len(wanted)} sockets did not open: "
                                 f"{failures[0]}")

    async def close(self):
        for start in range(0, len(self.sockets), 50):
            await asyncio.gather(*(s.close() for both in self.sockets[start:start + 50]
                                   for s in both))
        self.sockets = []
        if self.http is not None:
            await self.http.close()
            self.http = None


class Flow:
    """The sends of one scenario: when each cid was due, its ack, its deliveries."""

    def __init__(self):
        self.due = {}  # cid → when it was due (closed loop: when it was emitted)
        self.emitted = {}  # cid → when it was emitted
        self.acks = {}  # cid → (message id, acked at)
        self.nacks = {}  # cid → (error code, answered at)
        self.retried = 0  # `retry` nacks resent by a closed loop (throughput)
        self.delivered = Counter()  # cid → deliveries to the receiver's socket
        self.delivered_at = {}  # cid → first delivery
        self.sender_of = {}  # cid → sender id

    def record(self, cid, sender_id, due=None):
        """A send leaves now; `due` is when it should have (closed loop: now as well)."""
        emitted = now()
        self.emitted[cid] = emitted
        self.due[cid] = emitted if due is None else due
        self.sender_of[cid] = sender_id

    def forget(self, cid):
        """A send that never left (its socket refused it)."""
        for table in (self.due, self.emitted, self.sender_of):
            table.pop(cid, None)

    def answer(self, cid, answer, at):
        if isinstance(answer, dict) and answer.get("ok"):
            self.acks[cid] = (answer.get("id"), at)
        else:
            code = answer.get("error") if isinstance(answer, dict) else "bad_answer"
            self.nacks[cid] = (code or "bad_answer", at)

    def on_delivery(self, cid, at, _packet):
        if self.delivered[cid] == 0:
            self.delivered_at[cid] = at
        self.delivered[cid] += 1

    def outstanding(self):
        return len(self.due) - len(self.acks) - len(self.nacks)

    async def drain(self, timeout):
        """Wait (bounded) for every ack or nack; then, briefly, for the acked deliveries."""
        deadline = now() + timeout
        while self.outstanding() > 0 and now() < deadline:
            await asyncio.sleep(0.01)
        deliver_by = now() + min(5.0, max(deadline - now(), 1.0))
        while any(cid not in self.delivered for cid in self.acks) and now() < deliver_by:
            await asyncio.sleep(0.01)

    def report(self, window=None):
        """Counts and latencies; `window` (start, end) limits which acks count for the rate."""
        ack_latency = [at - self.due[cid] for cid, (_id, at) in self.acks.items()]
        delivery = [at - self.due[cid] for cid, at in self.delivered_at.items()
                    if cid in self.due]
        lag = [self.emitted[cid] - self.due[cid] for cid in self.emitted]
        codes = Counter(code for code, _at in self.nacks.values())
        result = {
            "sent": len(self.due), "acked": len(self.acks), "nacked": dict(codes),
            "retry_nacks": codes.get("retry", 0), "timeouts": self.outstanding(),
            "delivered": sum(1 for cid in self.acks if self.delivered[cid] == 1),
            "delivered_twice_or_more": sum(1 for n in self.delivered.values() if n > 1),
            "ack": latency_summary(ack_latency), "receive": latency_summary(delivery),
            "nack": latency_summary([at - self.due[cid] for cid, (_c, at) in self.nacks.items()]),
            "generator_lag": latency_summary(lag),
        }
        if window is not None:
            start, end = window
            in_window = sum(1 for _id, at in self.acks.values() if start <= at <= end)
            result["acked_in_window"] = in_window
            result["rate_per_s"] = round(in_window / (end - start), 1) if end > start else None
        return result


# --- integrity: every acked message stored exactly once ------------------------------------------
def sqlalchemy_url(url):
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def verify_stored(database_url, flow, chunk=500):
    """Compare the acks with the messages table: each acked cid once, with the acked id.

    Looked up by (sender, cid), the unique constraint's index: by cid alone each chunk was
    a scan of the whole table (minutes after a sustained run). A cid stored under another
    sender is then not found: it counts as missing."""
    if database_url is None:
        return None
    from sendapp.models import Message

    table = Message.__table__
    cids = list(flow.due)
    by_sender = {}
    for cid in cids:
        by_sender.setdefault(flow.sender_of.get(cid), []).append(cid)
    stored = {}
    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            for sender, theirs in by_sender.items():
                for start in range(0, len(theirs), chunk):
                    query = sqlalchemy.select(
                        table.c.cid, table.c.id, table.c.sender_id).where(
                        table.c.sender_id == sender, table.c.cid.in_(theirs[start:start + chunk]))
                    for cid, message_id, sender_id in connection.execute(query):
                        stored.setdefault(cid, []).append((message_id, sender_id))
    finally:
        engine.dispose()
    missing = sum(1 for cid in flow.acks if cid not in stored)
    duplicated = sum(1 for rows in stored.values() if len(rows) > 1)
    wrong_id = sum(1 for cid, (message_id, _at) in flow.acks.items()
                   if cid in stored and stored[cid][0][0] != message_id)
    wrong_sender = sum(1 for cid, rows in stored.items()
                       if any(sender != flow.sender_of.get(cid) for _id, sender in rows))
    nacked_stored = sum(1 for cid in flow.nacks if cid in stored)
    unanswered_stored = sum(1 for cid in flow.due
                            if cid in stored and cid not in flow.acks and cid not in flow.nacks)
    return {"acked": len(flow.acks), "stored": len(stored), "missing": missing,
            "not_stored": len(cids) - len(stored),
            "duplicated": duplicated, "wrong_id": wrong_id, "wrong_sender": wrong_sender,
            "nacked_but_stored": nacked_stored, "unanswered_but_stored": unanswered_stored,
            "ok": missing == duplicated == wrong_id == wrong_sender == nacked_stored == 0}


# --- scenarios ---------------------------------------------------------------------------------------
def _ack_handler(flow, cid, on_done=None):
    def handle(answer, at):
        flow.answer(cid, answer, at)
        if on_done is not None:
            on_done()
    return handle


async def throughput(target, pair_count, pools, window=8, warmup=1.0, duration=5.0,
                     drain_timeout=30.0):
    """Closed loop: each of `pair_count` senders keeps `window` messages in flight.

    Counts the acks that arrive inside the measured window (after `warmup`), which ends
    at `duration` or when every pool is spent and answered, whichever comes first.
    """
    flow = Flow()
    meter = Meter(target.process.pid, target.database_pids)
    used = list(zip(target.sockets[:pair_count], target.pairs[:pair_count], pools))
    for (_sender, receiver), _pair, _pool in used:
        receiver.on_message = flow.on_delivery
    try:
        exhausted = await closed_loop(
            flow, meter, [(s, p.sender.id, pool) for (s, _r), p, pool in used], window,
            warmup, duration, drain_timeout)
    finally:
        for (_sender, receiver), _pair, _pool in used:
            receiver.on_message = None
    result = {"pairs": pair_count, "window": window, **flow.report(meter.window),
              **meter.result, "pools_exhausted": exhausted, "retry_resent": flow.retried}
    result.update(cpu_per_message(meter.result, result.get("acked_in_window")))
    result["stored"] = verify_stored(target.database_url, flow)
    return result


def cpu_per_message(meter_result, messages):
    """Server (and PostgreSQL backends') CPU µs per message acked in the measured window."""
    if not messages:
        return {}
    out = {"server_cpu_us_per_msg": round(1e6 * meter_result["server_cpu_s"] / messages, 1)}
    if "database_cpu_s" in meter_result:
        out["database_cpu_us_per_msg"] = round(
            1e6 * meter_result["database_cpu_s"] / messages, 1)
    return out


async def closed_loop(flow, meter, senders, window, warmup, duration, drain_timeout):
    """Each of `senders` [(socket, sender id, pool)] keeps `window` messages in flight.

    `meter` measures from `warmup` s in until `duration` s later, or until every pool is
    spent and answered; then what is in flight is drained (bounded). Returns how many
    pools ran out."""
    started = now()
    measure_from, deadline = started + warmup, started + warmup + duration
    tasks = asyncio.gather(*(_closed_sender(flow, sock, sender_id, pool, window, deadline)
                             for sock, sender_id, pool in senders))
    finished = asyncio.ensure_future(_until_answered(tasks, flow))
    await asyncio.sleep(max(measure_from - now(), 0))
    meter.start()
    await asyncio.wait([finished], timeout=max(deadline - now(), 0))
    meter.stop()
    try:
        await asyncio.wait_for(asyncio.shield(tasks), drain_timeout)  # they stop at the deadline
        await flow.drain(backlog_timeout(flow, meter, drain_timeout))
    finally:
        finished.cancel()
        await asyncio.gather(finished, return_exceptions=True)
    return sum(1 for _s, _i, pool in senders if all(e.cid in flow.due for e in pool))


async def _closed_sender(flow, sock, sender_id, pool, window, deadline):
    """`window` in flight until `deadline`; a `retry` nack sends the same envelope again
    before any new one, as the clients' outboxes do: after the ack's `retry_after` when it
    has one (the slot stays taken meanwhile), else at once (the window is the pacing)."""
    slots = asyncio.Semaphore(window)
    again = []
    fresh = iter(pool)
    stopped = []
    loop = asyncio.get_running_loop()

    def requeue(envelope):
        if stopped:  # the deadline passed while it waited: its answer stands
            flow.answer(envelope.cid, {"ok": False, "error": "retry"}, now())
        else:
            again.append(envelope)
        slots.release()

    def answered(envelope):
        def handle(answer, at):
            if isinstance(answer, dict) and answer.get("error") == "retry" and not stopped:
                flow.retried += 1
                wait = retry_after(answer)
                if wait:
                    loop.call_later(wait, requeue, envelope)
                    return
                again.append(envelope)
            else:
                flow.answer(envelope.cid, answer, at)
            slots.release()
        return handle

    try:
        while True:
            left = deadline - now()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(slots.acquire(), left)
            except asyncio.TimeoutError:
                return
            if now() >= deadline:
                return
            envelope = again.pop(0) if again else next(fresh, None)
            if envelope is None:
                return
            if envelope.cid not in flow.due:
                flow.record(envelope.cid, sender_id)
            await sock.emit("send", envelope.wire, answered(envelope))
    finally:  # nacked and not sent again before the deadline: their answer stands
        stopped.append(True)
        for envelope in again:
            flow.answer(envelope.cid, {"ok": False, "error": "retry"}, now())


def retry_after(answer, ceiling=60.0):
    """The seconds a `retry` ack asks the client to wait (sendapp/load.py), or None."""
    wait = answer.get("retry_after")
    if isinstance(wait, (int, float)) and not isinstance(wait, bool) and 0 < wait <= ceiling:
        return float(wait)
    return None


def backlog_timeout(flow, meter, floor, ceiling=300.0):
    """Seconds to wait for what is still in flight: at the measured rate, with a margin.

    Many pairs × the window can queue more than a slow server answers in `floor` s."""
    wall = meter.result["wall_s"]
    rate = len(flow.acks) / wall if wall else 0.0
    return min(ceiling, floor + 1.5 * flow.outstanding() / max(rate, 1.0))


async def _until_answered(senders, flow):
    """Return once every sender is done and every send answered (a pool ran out early)."""
    await senders
    while flow.outstanding() > 0:
        await asyncio.sleep(0.005)


async def lone(target, pool, count=200, gap=0.005, timeout=5.0):
    """One message at a time on the first pair: send → ack and send → receive."""
    flow = Flow()
    (sender, receiver), pair = target.sockets[0], target.pairs[0]
    waiting = {}

    def delivered(cid, at, packet):
        flow.on_delivery(cid, at, packet)
        future = waiting.get(cid)
        if future is not None and not future.done():
            future.set_result(at)

    receiver.on_message = delivered
    meter = Meter(target.process.pid, target.database_pids)
    meter.start()
    loop = asyncio.get_running_loop()
    try:
        for envelope in pool[:count]:
            acked, arrived = loop.create_future(), loop.create_future()
            waiting[envelope.cid] = arrived

            def answered(answer, at, cid=envelope.cid, acked=acked):
                flow.answer(cid, answer, at)
                if not acked.done():
                    acked.set_result(at)

            flow.record(envelope.cid, pair.sender.id)
            await sender.emit("send", envelope.wire, answered)
            try:
                await asyncio.wait_for(asyncio.gather(acked, arrived), timeout)
            except asyncio.TimeoutError:
                pass
            waiting.pop(envelope.cid, None)
            await asyncio.sleep(gap)
    finally:
        receiver.on_message = None
    meter.stop()
    result = {**flow.report(), **meter.result}
    result["stored"] = verify_stored(target.database_url, flow)
    return result


async def _paced(used, pools, rate, total, start):
    """Yield (due, sender socket, pair, envelope) on schedule: message i is due at
    start + i / rate, round-robin over the pairs, each pair taking its pool in order.
    Behind schedule, the next message goes at once."""
    pair_count = len(pools)
    for index in range(total):
        due = start + index / rate
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        which = index % pair_count
        (sender, _receiver), pair = used[which]
        yield due, sender, pair, pools[which][index // pair_count]


async def open_loop(target, pools, rate, duration=5.0, ack_timeout=30.0, outbox=None,
                    flow=None):
    """Offer `rate` messages per second, spread over every pair in turn, for `duration` s.

    Latencies count from when each message was due. The answers are awaited at most
    `ack_timeout` s after the last message was due; what is still unanswered is a timeout.
    `outbox` (bench/outbox.py's class) resends `retry` nacks as a client does. `flow`: the
    Flow to record in (a new one by default), for a caller that reads more out of it.
    """
    flow = flow or Flow()
    outbox = outbox(flow) if outbox else None
    pair_count = len(pools)
    used = list(zip(target.sockets[:pair_count], target.pairs[:pair_count]))
    for (_sender, receiver), _pair in used:
        receiver.on_message = flow.on_delivery
    total = min(int(rate * duration), sum(len(pool) for pool in pools))
    meter = Meter(target.process.pid, target.database_pids)
    meter.start()
    start = now() + 0.01
    async for due, sender, pair, envelope in _paced(used, pools, rate, total, start):
        flow.record(envelope.cid, pair.sender.id, due)
        handler = outbox.ack_handler(sender, envelope) if outbox else \
            _ack_handler(flow, envelope.cid)
        await sender.emit("send", envelope.wire, handler)
    offered_for = now() - start
    await flow.drain(ack_timeout)
    meter.stop()
    for (_sender, receiver), _pair in used:
        receiver.on_message = None
    result = {"offered_per_s": round(rate, 1), "offered_for_s": round(offered_for, 3),
              **flow.report(), **meter.result}
    result["stored"] = verify_stored(target.database_url, flow)
    if outbox:
        result.update(await outbox.report(result["stored"]))
    return result


async def sustained(target, pools, rate, duration, every=10.0):
    """`open_loop` for minutes, not seconds: the server's resident memory sampled every
    `every` s, and the ack latency of each `every`-second stretch (by when its messages were
    due). Shows whether memory stays bounded under long load (what a frozen object in a
    garbage cycle holds until the next thaw, app.py: freeze_survivors) and whether the
    fixed-rate scenario's 5-second p99 holds over minutes."""
    started = now()
    samples = []

    async def sample():
        while True:
            samples.append((round(now() - started, 1), rss_kb(target.process.pid)))
            await asyncio.sleep(every)

    sampler = asyncio.ensure_future(sample())
    flow = Flow()
    try:
        result = await open_loop(target, pools, rate, duration, flow=flow)
    finally:
        sampler.cancel()
    samples.append((round(now() - started, 1), rss_kb(target.process.pid)))
    kb = [value for _at, value in samples]
    result["rss_kb"] = {"samples": samples, "first": kb[0], "max": max(kb), "last": kb[-1]}
    result["ack_by_stretch"] = stretches(flow, every)
    result["worst_stretch_p99_ms"] = max((s.get("p99_ms") or 0 for s in result["ack_by_stretch"]),
                                         default=None)
    return result


def stretches(flow, every):
    """Ack latency summaries of the acked messages, by the `every`-second stretch in which
    each was due (counted from the first message due)."""
    if not flow.acks:
        return []
    first = min(flow.due.values())
    buckets = {}
    for cid, (_id, at) in flow.acks.items():
        due = flow.due[cid]
        buckets.setdefault(int((due - first) // every), []).append(at - due)
    return [{"from_s": index * every, **latency_summary(values)}
            for index, values in sorted(buckets.items())]


async def sigterm_under_load(target, pools, rate, after=2.0, duration=5.0, ack_timeout=3.0):
    """Offer `rate` msg/s, SIGTERM the server `after` s in (by pid): how long it takes to
    exit, and whether every message it acked is stored. The server stays stopped."""
    flow = Flow()
    pair_count = len(pools)
    used = list(zip(target.sockets[:pair_count], target.pairs[:pair_count]))
    total = min(int(rate * duration), sum(len(pool) for pool in pools))
    stopped = {}

    async def stop_later():
        await asyncio.sleep(after)
        acked_before = len(flow.acks)
        code, seconds = await asyncio.to_thread(target.process.stop, 30.0)
        stopped.update(exit=code, seconds=round(seconds, 2), acked_before_sigterm=acked_before)

    stopper = asyncio.ensure_future(stop_later())
    refused = 0
    async for due, sender, pair, envelope in _paced(used, pools, rate, total, now() + 0.01):
        if sender.closed:
            refused += 1
            continue
        flow.record(envelope.cid, pair.sender.id, due)
        try:
            await sender.emit("send", envelope.wire, _ack_handler(flow, envelope.cid))
        except (wire.WireError, ConnectionError, OSError):
            flow.forget(envelope.cid)
            refused += 1
    await flow.drain(ack_timeout)
    await asyncio.wait_for(stopper, 60)
    report = flow.report()
    result = {"offered_per_s": round(rate, 1), **stopped, "sent": report["sent"],
              "acked": report["acked"], "unanswered": report["timeouts"],
              "not_sent_socket_closed": refused, "nacked": report["nacked"]}
    result["stored"] = verify_stored(target.database_url, flow)
    return result


def seed_messages(database_url, pair, count, chunk=1000):
    """Insert `count` valid rows (sealed envelopes, real key ids) straight into the table.

    Returns (seconds, first id, last id). Used only to prepare the catch-up scenario:
    through `send` it would take minutes on today's server.
    """
    from sendapp.models import Message

    pool = people.seal(pair, count, keep_fields=True)
    lo, hi = sorted((pair.sender.id, pair.receiver.id))
    stamp = int(time.time() * 1000)
    rows = [{"sender_id": pair.sender.id, "recipient_id": pair.receiver.id, "lo_id": lo,
             "hi_id": hi, "cid": e.cid, "sk": e.fields["sk"], "rk": e.fields["rk"],
             "n": e.fields["n"], "ct": e.fields["ct"], "ts": stamp} for e in pool]
    started = now()
    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    try:
        for start in range(0, len(rows), chunk):
            with engine.begin() as connection:
                connection.execute(Message.__table__.insert(), rows[start:start + chunk])
    finally:
        engine.dispose()
    return now() - started


async def catch_up(target, pair, count=10_000, page=200, timeout=120.0):
    """A fresh socket of the receiver syncs from 0, page by page, until `more` is false."""
    seconds_seeding = await asyncio.to_thread(seed_messages, target.database_url, pair, count)
    sock = target.new_socket(pair.receiver)
    await sock.connect()
    meter = Meter(target.process.pid, target.database_pids)
    ids, pages, after = set(), 0, 0
    deadline = now() + timeout
    meter.start()
    try:
        while pages <= count // page + 10 and now() < deadline:
            answer = await sock.call("sync", {"after": after, "limit": page},
                                     timeout=max(deadline - now(), 0.1))
            pages += 1
            if not answer.get("ok"):
                raise RuntimeError(f"sync refused: {answer!r}")
            batch = [m["id"] for m in answer["messages"]]
            ids.update(batch)
            if not answer.get("more") or not batch:
                break
            after = max(batch)
        meter.stop()
    finally:
        await sock.close()
    return {"messages": count, "page": page, "pages": pages, "received": len(ids),
            "seconds": meter.result["wall_s"], "seed_seconds": round(seconds_seeding, 3),
            **meter.result}


async def idle_sockets(target, count=1000, concurrency=16, timeout=180.0, chat_messages=50,
                       chat_pool=None, settle=1.0, compress=None, held=None):
    """RSS of the server with `count` idle logged-in sockets (of the run's users) open.

    While they are open, the first pair chats `chat_messages` lone messages. `settle` s
    pass before each RSS reading (twice that once the sockets are open). `compress` 15
    offers permessage-deflate as browsers do. With `held` (an IdleHold), the sockets of the
    earlier, smaller passes stay open: only the missing ones are opened, RSS counts from
    before the first pass (memory a closed pass freed would be reused and flatter the
    figure), and the caller closes them all at the end (`IdleHold.close`).
    """
    everyone = [p for pair in target.pairs for p in (pair.sender, pair.receiver)]
    own = held is None
    if own:
        held = IdleHold()
    if held.rss_before_kb is None:
        await asyncio.sleep(settle)
        held.rss_before_kb = target.process.rss_kb()
    meter = Meter(target.process.pid, target.database_pids)
    meter.start()
    missing = max(count - len(held.sockets), 0)
    sockets, failures = await open_many(
        [target.new_socket(everyone[i % len(everyone)], compress=compress) for i in range(missing)],
        concurrency, timeout)
    held.sockets += sockets
    opening = meter.stop()["wall_s"]
    await asyncio.sleep(2 * settle)
    rss_open = target.process.rss_kb()
    alive = sum(1 for s in held.sockets if not s.closed)
    result = {"sockets": count, "opened": len(held.sockets), "still_open": alive,
              "all_opened": len(held.sockets) == count and alive == count,
              "failures": len(failures), "first_failure": failures[0] if failures else None,
              "open_seconds": round(opening, 2), "opening": meter.result,
              "deflate_negotiated": sum(1 for s in held.sockets if s.deflate),
              "rss_before_kb": held.rss_before_kb, "rss_open_kb": rss_open,
              "kb_per_socket": round((rss_open - held.rss_before_kb)
                                     / max(len(held.sockets), 1), 1)}
    if chat_messages and chat_pool:
        chat = await lone(target, chat_pool, count=chat_messages)
        result["chat_meanwhile"] = {"ack": chat["ack"], "receive": chat["receive"],
                                    "stored_ok": (chat["stored"] or {}).get("ok")}
    if own:
        result.update(await held.close(target, settle))
    return result


class IdleHold:
    """Idle sockets kept open across passes of growing size, and the RSS before the first."""

    def __init__(self):
        self.sockets = []
        self.rss_before_kb = None

    async def close(self, target, settle):
        closing = now()
        for start in range(0, len(self.sockets), 50):
            await asyncio.gather(*(s.close() for s in self.sockets[start:start + 50]))
        self.sockets = []
        out = {"close_seconds": round(now() - closing, 2)}
        await asyncio.sleep(settle)
        out["rss_after_close_kb"] = target.process.rss_kb()
        return out
