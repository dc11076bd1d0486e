"""Which scenarios run against which server, in what order, with which pools (see run.py).

The bare relays (Python and Node) get throughput, lone messages and long-polling;
SendApp gets those and the rest (a group, fixed rate, catch-up, idle sockets, overload
with an outbox, SIGTERM under load). The rate-limiter run gets throughput at `--pairs`
only.
"""
import math
import time

from . import group_scenario, groups, people, scenarios
from .outbox import Outbox
from .report import pairs_text


def log(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def pool_size(args, pairs, rate_hint=None):
    """Envelopes per sender for a closed-loop run: enough for `rate_hint` msg/s, bounded."""
    if args.tiny_messages:
        return args.tiny_messages
    rate = rate_hint or args.rate_hint
    return math.ceil(rate * (args.warmup + args.duration) * 1.2 / pairs) + args.window


def seal_pools(pairs, per_pair, body):
    return [people.seal(pair, per_pair, body) for pair in pairs]


def open_loop_pools(pairs, rate, seconds, body):
    """Enough envelopes per pair to offer `rate` msg/s for `seconds` round-robin."""
    return seal_pools(pairs, math.ceil(rate * seconds / len(pairs)) + 1, body)


async def throughput_at(target, args, body, count):
    """Closed-loop throughput over the first `count` pairs."""
    hint = args.node_rate_hint if target.name == "node" else None
    pools = seal_pools(target.pairs[:count], pool_size(args, count, hint), body)
    return await scenarios.throughput(target, count, pools, args.window, args.warmup,
                                      args.duration)


async def closed_and_lone(target, args, body, name, counts):
    """Throughput at each pair count in `counts` (key `tput_<n>`), then lone messages."""
    out = {}
    for count in counts:
        log(f"{name}: throughput, {pairs_text(count)}")
        out[f"tput_{count}"] = await throughput_at(target, args, body, count)
    log(f"{name}: {args.lone} lone messages")
    out["lone"] = await scenarios.lone(target, seal_pools(target.pairs[:1], args.lone, body)[0],
                                       args.lone)
    return out


async def over_polling(name, process, pairs, args, ssl, body, database_pids=None):
    """Throughput and lone messages with every socket on Engine.IO long-polling."""
    count = min(args.polling_pairs, len(pairs))
    target = scenarios.Target(name, process, pairs[:count], ssl, 0, database_pids,
                              transport="polling")
    await target.open()
    try:
        log(f"{name}: long-polling throughput, {pairs_text(count)}")
        out = {"polling": await throughput_at(target, args, body, count)}
        log(f"{name}: long-polling, {args.polling_lone} lone messages")
        out["polling_lone"] = await scenarios.lone(
            target, seal_pools(pairs[:1], args.polling_lone, body)[0], args.polling_lone)
        return out
    finally:
        await target.close()


async def fixed_rates(target, args, body, name, loop_pairs, max_rate):
    """Open loop over `loop_pairs`: half the max for --rate-seconds (`half_rate`), then
    --sustained seconds at --sustained-rate or --sustained-factor x the max (`sustained`)."""
    out = {}
    rate = max_rate / 2
    log(f"{name}: fixed rate {rate:.0f} msg/s (half the max) for {args.rate_seconds} s")
    out["half_rate"] = await scenarios.open_loop(
        target, open_loop_pools(loop_pairs, rate, args.rate_seconds, body), rate,
        args.rate_seconds)
    if args.sustained:
        rate = args.sustained_rate or max_rate * args.sustained_factor
        log(f"{name}: sealing envelopes for {rate:.0f} msg/s over {args.sustained:g} s")
        pools = open_loop_pools(loop_pairs, rate, args.sustained, body)
        log(f"{name}: sustained {rate:.0f} msg/s ({rate / max_rate:.2f}x max) for "
            f"{args.sustained:g} s, memory sampled")
        out["sustained"] = await scenarios.sustained(target, pools, rate, args.sustained)
    return out


async def measure_bare(name, process, args, ssl):
    """A bare relay (Python or Node): throughput, lone, the fixed rates (the stack's own
    latency at half its max and at the sustained rate), long-polling."""
    pairs = people.bare_pairs(args.users_pairs)
    body = people.text_body()
    target = scenarios.Target(name, process, pairs, ssl, args.ws_compress)
    await target.open()
    try:
        out = await closed_and_lone(target, args, body, name, args.pair_counts)
        out.update(await fixed_rates(target, args, body, name, pairs[:args.pairs],
                                     max_rate_of(out, args.pairs)))
    finally:
        await target.close()
    if args.polling_pairs:
        out.update(await over_polling(name, process, pairs, args, ssl, body))
    return out


async def measure_limiter(name, process, pairs, args, ssl):
    """SendApp with its rate limiter on: throughput at `--pairs` only."""
    target = scenarios.Target(name, process, pairs[:args.pairs], ssl, args.ws_compress)
    await target.open()
    try:
        log(f"{name}: throughput, {pairs_text(args.pairs)}, rate limiter on")
        return {f"tput_{args.pairs}": await throughput_at(target, args, people.text_body(),
                                                          args.pairs)}
    finally:
        await target.close()


def max_rate_of(out, pairs):
    """The throughput the open-loop scenarios scale from: at `pairs` pairs, else the best."""
    rates = {key: (value or {}).get("rate_per_s") for key, value in out.items()
             if key.startswith("tput_")}
    return rates.get(f"tput_{pairs}") or max([r for r in rates.values() if r] or [1.0])


async def group_pass(target, group, args, body, name):
    """The group scenario: every member online, `--group-senders` of them sending."""
    senders = group.members[:min(args.group_senders, group.size)]
    per_sender = pool_size(args, len(senders), args.group_rate_hint)
    log(f"{name}: group of {group.size}, {len(senders)} senders × {args.window} in flight "
        f"(sealing {per_sender * len(senders):,} envelopes)")
    pools = [groups.seal(group, sender, per_sender, body) for sender in senders]
    return await group_scenario.group_throughput(target, group, pools, args.window,
                                                 args.warmup, args.duration)


async def measure_group(name, process, group, args, ssl, database_pids=None):
    """Only the group scenario (`--group-only`)."""
    target = scenarios.Target(name, process, [], ssl, args.ws_compress, database_pids)
    await target.open()
    try:
        return {"group": await group_pass(target, group, args, people.text_body(), name)}
    finally:
        await target.close()


async def measure_sendapp(name, process, pairs, catch_pair, args, ssl, database_pids=None,
                          group=None):
    """Every scenario, SIGTERM under load last (it stops the server).

    :param group: a groups.Group for the group scenario, or None to skip it."""
    body = people.text_body()
    target = scenarios.Target(name, process, pairs, ssl, args.ws_compress, database_pids)
    await target.open()
    try:
        out = await closed_and_lone(target, args, body, name, args.pair_counts)
        if group is not None:
            out["group"] = await group_pass(target, group, args, body, name)
        loop_pairs = pairs[:args.pairs]
        max_rate = max_rate_of(out, args.pairs)
        out.update(await fixed_rates(target, args, body, name, loop_pairs, max_rate))
        if args.catch_up:
            log(f"{name}: catch-up of {args.catch_up} messages by sync")
            out["catch_up"] = await scenarios.catch_up(target, catch_pair, args.catch_up)
        out.update(await idle_passes(target, args, body, name))
        for factor in args.overload:
            rate = max_rate * factor
            log(f"{name}: overload {rate:.0f} msg/s ({factor:g}x max) for {args.rate_seconds} s,"
                " retry nacks resent")
            out[f"overload_{factor:g}x"] = await scenarios.open_loop(
                target, open_loop_pools(loop_pairs, rate, args.rate_seconds, body), rate,
                args.rate_seconds, ack_timeout=60.0, outbox=Outbox)
    finally:
        await target.close()
    if args.polling_pairs:
        out.update(await over_polling(name, process, pairs, args, ssl, body, database_pids))
    if not args.no_sigterm:
        out["sigterm"] = await sigterm_pass(name, process, loop_pairs, args, ssl, body,
                                            max_rate, database_pids)
    return out


async def idle_passes(target, args, body, name):
    """Idle sockets at each `--idle-counts`, growing (the smaller passes' sockets stay open,
    one pair chatting meanwhile), then once offering permessage-deflate, on fresh sockets."""
    out = {}
    held = scenarios.IdleHold()
    for count in sorted(args.idle_counts):
        log(f"{name}: {count} idle sockets")
        out[f"idle_{count}"] = await scenarios.idle_sockets(
            target, count, chat_messages=min(50, args.lone), settle=args.settle,
            chat_pool=seal_pools(target.pairs[:1], 50, body)[0], timeout=60 + 0.05 * count,
            held=held)
    if held.sockets:
        out["idle_closed"] = await held.close(target, args.settle)
    if args.idle_counts and not args.no_idle_deflate:
        count = args.idle_counts[0]
        log(f"{name}: {count} idle sockets offering permessage-deflate")
        out["idle_deflate"] = await scenarios.idle_sockets(
            target, count, chat_messages=0, settle=args.settle, compress=15)
    return out


async def sigterm_pass(name, process, pairs, args, ssl, body, rate, database_pids):
    """SIGTERM under full load, on fresh sockets (the server stays stopped)."""
    target = scenarios.Target(name, process, pairs, ssl, args.ws_compress, database_pids)
    await target.open()
    try:
        log(f"{name}: SIGTERM under full load ({rate:.0f} msg/s)")
        return await scenarios.sigterm_under_load(
            target, open_loop_pools(pairs, rate, args.rate_seconds, body), rate,
            after=min(2.0, args.rate_seconds / 2), duration=args.rate_seconds)
    finally:
        await target.close()


async def measure_cluster(name, process, pairs, args, ssl, database_pids, lock_waits):
    """Two processes behind nginx: throughput (with the order lock's waits sampled), lone
    messages and the fixed half-max rate, at pair counts up to `--pairs`.

    :param lock_waits: a function making a cluster.LockWaits for one window.
    """
    body = people.text_body()
    target = scenarios.Target(name, process, pairs, ssl, args.ws_compress, database_pids)
    await target.open()
    try:
        out = {}
        for count in [n for n in args.pair_counts if n <= len(pairs)]:
            log(f"{name}: throughput, {pairs_text(count)}")
            with lock_waits() as waits:
                out[f"tput_{count}"] = await throughput_at(target, args, body, count)
            out[f"tput_{count}"]["lock_waits"] = waits.result()
        log(f"{name}: {args.lone} lone messages")
        out["lone"] = await scenarios.lone(
            target, seal_pools(target.pairs[:1], args.lone, body)[0], args.lone)
        rate = max_rate_of(out, min(args.pairs, len(pairs))) / 2
        log(f"{name}: fixed rate {rate:.0f} msg/s (half the max) for {args.rate_seconds} s")
        out["half_rate"] = await scenarios.open_loop(
            target, open_loop_pools(pairs, rate, args.rate_seconds, body), rate,
            args.rate_seconds)
    finally:
        await target.close()
    return out
