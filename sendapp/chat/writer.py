"""The message write path: few statements and one transaction per batch, ack after commit.

- A batch's 1:1 envelopes are ONE statement, `INSERT … WITH v AS (VALUES …) SELECT … FROM v
  WHERE <the pair are friends, sk is the sender's key, rk the recipient's> ON CONFLICT
  (sender_id, cid) DO NOTHING RETURNING id`: one round trip to PostgreSQL per batch.
  The checks ride in the write, so they are exactly as fresh as the transaction (right across
  processes, with no cache to keep in step), and idempotency is the unique constraint's job:
  insert first, and only when nothing was inserted find out why (`service.explain_refusal`).
- Group envelopes (PROTOCOL §9.5) ride in the same transaction: one more statement of the
  same form for the batch's group messages (their entries in a second VALUES list; WHERE
  <sk is the sender's key, the entries name exactly the group's members, each with a key of
  its own>), then one executemany of the inserted messages' wraps (message_keys). A
  membership change must not commit between that check and the commit: on PostgreSQL
  membership changes take the same advisory lock (`hold_write_order`), on SQLite the
  database's write lock serialises them anyway.
- Every statement starts with INSERT, never WITH: Python's sqlite3 opens the transaction
  before a statement only when it starts with INSERT/UPDATE/DELETE/REPLACE, and would
  autocommit a `WITH … INSERT` on its own, splitting a group message from its wraps.
- One writer per process writes every envelope queued while its previous transaction ran in
  one transaction (group commit: one fsync for many messages). Each sender's handler waits
  for its own outcome, so the ack still follows the commit.
- Under a steady load a transaction starts at least `gather` seconds (about a millisecond)
  after the previous one started, while fewer than GATHER_BELOW envelopes wait: the
  messages that arrive meanwhile share its commit (one fsync: under eventlet nothing else
  runs during it) instead of paying one each. A message after a pause never waits: the
  previous start is long past. Larger batches start at once.
- On SQLite the writer's own connection never checkpoints inside a commit: between two
  transactions, every few tenths of a second, it has a helper process run the checkpoint
  and waits for it cooperatively (`wal_checkpoint.py`). The event loop goes on meanwhile,
  and what arrives joins the next transaction.
- The queue is bounded in length and in age: a send that finds it full, or that waited
  longer than `max_wait` before its batch started, is answered `retry` at once and nothing
  is stored; the client's outbox resends the same cid. Overload costs a quick nack, not a
  latency that grows without end.
- The writer relays (`relay`, chat/relay.py) each stored message after the commit and
  before its ack, in id order. On PostgreSQL each batch takes an advisory order lock
  before its first insert, so ids become visible in id order across processes (the §8
  sync cursor never skips a late commit). With a message queue (several processes) that
  lock is session-level and released only after the batch's relays, so every process
  also relays in id order: the message queue delivers one publisher's messages in order,
  and the next batch's publishes start only after the lock is released. A client that
  moves its cursor to a live message's id has then already been sent every smaller id of
  its conversations, whichever process stored them (a process killed between commit and
  relay is covered by the sender's resend: a retried cid is relayed again, see
  events.on_send). One process without a queue needs only commit order: its lock ends
  with the transaction. One lock per batch, not per message. On SQLite (one process) the
  single writer gives the same order by itself.
- A (sender, cid) twice in one batch is tried once, at its first place: the later copies are
  "not inserted" and explained after the commit (the stored one's id, or `conflict`).

Background work uses the async mode's `start_background_task`/`sleep` only (eventlet in
app.py, threads in the tests); `threading.Event` is green under eventlet's monkey-patching.
"""
import functools
import logging
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..database import is_locked
from ..errors import ApiError, transient_refusal
from ..models import MessageKey, now_ms
from ..rooms import ordered
from .envelope import GroupEnvelope

log = logging.getLogger(__name__)

MAX_BATCH = 256  # envelopes per transaction
IDLE_STOP = 10.0  # seconds without envelopes after which the writer task ends (restarts on demand)
OUTCOME_WAIT = 30.0  # seconds a handler waits for its batch; the writer is stuck past that
WRITER_ORDER_LOCK = 727274  # PostgreSQL advisory lock id (the one the per-message lock used)
MAX_PARAMS = 30_000  # bound parameters per statement (SQLite allows 32,766)
GATHER_BELOW = 32  # envelopes queued from which a transaction starts without gathering

_FIELDS = ("ord", "sender", "recipient", "lo", "hi", "cid", "sk", "rk", "n", "ct")
_INSERT_MANY = """
    INSERT INTO messages (sender_id, recipient_id, lo_id, hi_id, cid, sk, rk, n, ct, ts)
    WITH v ({fields}) AS (VALUES {rows})
    SELECT v.sender, v.recipient, v.lo, v.hi, v.cid, v.sk, v.rk, v.n, v.ct, {ts} FROM v
    WHERE EXISTS (SELECT 1 FROM friendships f
                  WHERE f.lo_id = v.lo AND f.hi_id = v.hi AND f.accepted)
      AND EXISTS (SELECT 1 FROM identity_keys k WHERE k.user_id = v.sender AND k.key_id = v.sk)
      AND EXISTS (SELECT 1 FROM identity_keys k WHERE k.user_id = v.recipient AND k.key_id = v.rk)
    ORDER BY v.ord
    ON CONFLICT (sender_id, cid) DO NOTHING
    RETURNING id, sender_id, cid
"""


_GROUP_FIELDS = ("ord", "sender", "grp", "cid", "sk", "n", "ct", "entries")
_ENTRY_FIELDS = ("ord", "member", "rk")
_GROUP_PARAMS = len(_GROUP_FIELDS) + 1  # one envelope's own parameters, with :ts
# `entries` distinct members (envelope.py), each a member of the group with a key of its own,
# and the group has exactly `entries` members: the entries name exactly the members. The
# sender's own entry (rk = sk) is checked before the statement (`_own_entry_holds`).
_INSERT_GROUP = """
    INSERT INTO messages (sender_id, group_id, cid, sk, n, ct, ts)
    WITH v ({fields}) AS (VALUES {rows}),
         e ({entry_fields}) AS (VALUES {entry_rows})
    SELECT v.sender, v.grp, v.cid, v.sk, v.n, v.ct, {ts} FROM v
    WHERE EXISTS (SELECT 1 FROM identity_keys k WHERE k.user_id = v.sender AND k.key_id = v.sk)
      AND (SELECT count(*) FROM group_members gm WHERE gm.group_id = v.grp) = v.entries
      AND (SELECT count(*) FROM e
           JOIN group_members gm ON gm.group_id = v.grp AND gm.user_id = e.member
           JOIN identity_keys k ON k.user_id = e.member AND k.key_id = e.rk
           WHERE e.ord = v.ord) = v.entries
    ORDER BY v.ord
    ON CONFLICT (sender_id, cid) DO NOTHING
    RETURNING id, sender_id, cid
"""


# How each supported DBAPI driver names a bound parameter in the SQL it is given.
_PLACEHOLDERS = {"pysqlite": ":{}", "psycopg2": "%({})s"}


def placeholder(connection):
    """The driver's spelling of a named parameter, a format string taking the name."""
    driver = connection.dialect.driver
    if driver not in _PLACEHOLDERS:
        raise RuntimeError(f"the message writer does not know how the {driver!r} driver "
                           f"names parameters (known: {', '.join(_PLACEHOLDERS)})")
    return _PLACEHOLDERS[driver]


# The batch statements are plain SQL strings given to the driver (`exec_driver_sql`), cached
# per batch size. Cached as SQLAlchemy `text()` they held ten BindParameter objects per row,
# about seven objects each for the garbage collector: 400,000 tracked objects after a few
# throughput runs, a million after an overload, walked by every full collection (0.3-1.3 s
# pauses; docs/BENCHMARKS.md, "Batch statements as driver SQL"). Strings are not tracked.
@functools.lru_cache(maxsize=MAX_BATCH)
def insert_sql(count, named):
    """The one statement that writes a batch of `count` envelopes (one round trip): each row
    only if the pair are friends and both key ids hold, ids in batch order, a cid already
    stored (or twice in the batch) skipped. Parameters `<field><index>` and `ts`, spelled
    by `named` (`placeholder`)."""
    rows = ", ".join("(" + ", ".join(named.format(f"{field}{i}") for field in _FIELDS) + ")"
                     for i in range(count))
    return _INSERT_MANY.format(fields=", ".join(_FIELDS), rows=rows, ts=named.format("ts"))


@functools.lru_cache(maxsize=64)  # keyed by two sizes: keep the most used texts only
def insert_group_sql(count, entry_count, named):
    """The statement that writes `count` group envelopes holding `entry_count` entries in all
    (one round trip), each only if sk is the sender's key and its entries name exactly the
    group's members with their keys; ids in batch order. Parameters `<field><index>` for
    envelopes, `e<field><index>` for entries and `ts`, spelled by `named`."""
    rows = ", ".join("(" + ", ".join(named.format(f"{field}{i}") for field in _GROUP_FIELDS)
                     + ")" for i in range(count))
    entry_rows = ", ".join(
        "(" + ", ".join(named.format(f"e{field}{i}") for field in _ENTRY_FIELDS) + ")"
        for i in range(entry_count))
    return _INSERT_GROUP.format(fields=", ".join(_GROUP_FIELDS), rows=rows,
                                entry_fields=", ".join(_ENTRY_FIELDS), entry_rows=entry_rows,
                                ts=named.format("ts"))


def hold_write_order(connection):
    """Wait for, then hold until the transaction ends, the writer's order lock (PostgreSQL;
    SQLite's write lock already serialises writers). Group membership changes call this
    before they change group_members, so no message batch checks members that change before
    it commits (§9.5 step 5)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": WRITER_ORDER_LOCK})


class _OrderLock:
    """The order lock (PostgreSQL) on one batch's connection, taken inside the batch's
    transaction before its first insert (no extra round trip). With other processes to
    relay to (`through_relays`: a message queue is set) it is taken at session level and
    held past the commit until the batch's relays are done; else it ends with the
    transaction (one process relays in order by itself, and a process waiting for the lock
    blocks whole: psycopg2 does not yield, so the lock is held no longer than it must)."""

    def __init__(self, connection, ordered, through_relays):
        self.connection = connection
        self.ordered = ordered
        self.through_relays = through_relays
        self.held = False

    def take(self):
        if not self.ordered:
            return
        if not self.through_relays:
            hold_write_order(self.connection)
            return
        self.connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": WRITER_ORDER_LOCK})
        self.held = True

    def release(self):
        """Unlock; if that fails, drop the connection: ending its session frees the lock."""
        if not self.held:
            return
        connection = self.connection
        try:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": WRITER_ORDER_LOCK})
            connection.commit()
            self.held = False
        except Exception as error:  # noqa: BLE001 - the lock must never stay held
            log.warning("could not release the write-order lock (%s); dropping the "
                        "connection", error.__class__.__name__)
            connection.invalidate()


def _busy():
    """A fresh `retry` refusal (an exception instance is not shared between handlers); its
    sentence is lazy, made in the writer's thread and translated when the handler answers."""
    return ApiError("retry", _l("the server is busy; nothing was stored, try again in a moment"))


@dataclass
class _Pending:
    """One envelope waiting for its batch; `stored_id` None after `done` means "not inserted"."""

    sender_id: int
    envelope: object
    queued: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    stored_id: int = None
    ts: int = None
    error: ApiError = None

    @property
    def is_group(self):
        return isinstance(self.envelope, GroupEnvelope)

    def params(self, index):
        """This 1:1 envelope's row of the batch statement."""
        env = self.envelope
        lo, hi = ordered(self.sender_id, env.to)
        values = (index, self.sender_id, env.to, lo, hi, env.cid, env.sk, env.rk, env.n, env.ct)
        return {f"{field}{index}": value for field, value in zip(_FIELDS, values)}

    def finish(self, stored_id=None, ts=None, error=None):
        self.stored_id, self.ts, self.error = stored_id, ts, error
        self.done.set()


class MessageWriter:
    """This process's single writer of messages (see the module docstring).

    :param engine: the SQLAlchemy engine to write with.
    :param start_task: the async mode's start_background_task.
    :param sleep: the async mode's cooperative sleep.
    :param limit: envelopes queued at most; more are answered `retry`.
    :param max_wait: seconds an envelope may wait for its batch before it is answered `retry`.
    :param relay: called with (sender id, envelope, stored id, ts) for each stored message,
        after the commit and before its ack, in id order (None: relay nothing).
    :param shared: other server processes relay too (a message queue is set): on
        PostgreSQL the order lock is then held until the batch's relays are done.
    :param gather: seconds at least between the starts of two transactions of fewer than
        GATHER_BELOW envelopes (0: none).
    :param checkpointer: a wal_checkpoint.Checkpointer that runs SQLite's checkpoints
        between transactions, outside the event loop; None: the commits run them.
    """

    def __init__(self, engine, start_task, sleep, limit, max_wait, relay=None, shared=False,
                 gather=0.0, checkpointer=None):
        self.engine = engine
        self.checkpointer = checkpointer
        self.gather = gather
        self.started = float("-inf")  # when the last transaction started (monotonic)
        self.relay = relay
        self.shared = shared
        self.start_task = start_task
        self.sleep = sleep
        self.limit = limit
        self.max_wait = max_wait
        self.queue = deque()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.running = False
        self.connection = None  # the running task's own, kept between batches
        self.order_writers = engine.dialect.name == "postgresql"

    def write(self, sender_id, envelope):
        """Store one envelope; answers (id, ts) once committed, or None when the insert's checks
        or the cid's uniqueness refused it (the caller explains which). Raises ApiError `retry`."""
        item = _Pending(sender_id, envelope)
        with self.lock:
            if len(self.queue) >= self.limit:
                raise _busy()
            self.queue.append(item)
            start = not self.running
            self.running = True
        self.wake.set()
        if start:
            self.start_task(self._run)
        if not item.done.wait(OUTCOME_WAIT):
            log.error("no outcome from the message writer within %ss", OUTCOME_WAIT)
            raise _busy()
        if item.error is not None:
            raise item.error
        return None if item.stored_id is None else (item.stored_id, item.ts)

    def close(self):
        """Give the kept connection back and stop the checkpoint helper now (at shutdown,
        once the sends in hand are done), so that disposing of the engine closes every
        connection: SQLite folds its WAL back into the database file when the last one
        closes. A later batch would take a new connection and start a new helper."""
        self._drop_connection()
        if self.checkpointer is not None:
            self.checkpointer.close()

    def _drop_connection(self):
        connection, self.connection = self.connection, None
        _close(connection)

    def _run(self):
        """Write batches while envelopes come; end after IDLE_STOP seconds without any."""
        while True:
            if not self.wake.wait(IDLE_STOP):
                with self.lock:
                    if not self.queue:
                        self.running = False
                        connection, self.connection = self.connection, None
                        break
                continue
            self.wake.clear()
            self.sleep(0)  # let handlers that are ready queue theirs: one transaction for all
            while self.queue:
                self._gather()
                batch = self._take()
                if not batch:
                    break
                self.started = time.monotonic()
                self._write(batch)
                self._checkpoint_if_due()
        _close(connection)

    def _gather(self):
        """Wait until `gather` after the last transaction's start, unless GATHER_BELOW or more
        envelopes are waiting (module docstring)."""
        if len(self.queue) >= GATHER_BELOW:
            return
        wait = self.started + self.gather - time.monotonic()
        if wait > 0:
            self.sleep(wait)

    def _take(self):
        """Up to MAX_BATCH queued envelopes; those that waited too long get `retry`."""
        oldest = time.monotonic() - self.max_wait
        batch = []
        with self.lock:
            while self.queue and len(batch) < MAX_BATCH:
                item = self.queue.popleft()
                if item.queued < oldest:
                    item.finish(error=_busy())
                else:
                    batch.append(item)
        return batch

    def _write(self, batch):
        """One transaction for the batch; if it fails, each envelope alone, so one bad
        envelope (say, its recipient deleted meanwhile) cannot refuse the others."""
        try:
            with self._writing_in_order() as order:
                outcomes = self._transaction(order, batch)
                self._relay(batch, outcomes)
        except Exception as error:  # noqa: BLE001 - every waiting handler must get an answer
            self._drop_connection()  # the next batch starts on a fresh connection
            if len(batch) == 1 or _transient(error):
                for item in batch:
                    item.finish(error=_refusal(error))
                return
            for item in batch:
                self._write([item])
            return
        for item, (stored_id, ts) in zip(batch, outcomes):
            item.finish(stored_id, ts)

    @contextmanager
    def _writing_in_order(self):
        """The writer's connection and the batch's order lock, released when the block ends.
        The connection is kept from batch to batch while the task runs: a pool checkout per
        batch cost a checkout, a reset and (PostgreSQL) a ping, once per message when
        messages come one at a time. One that failed or was invalidated is replaced."""
        if self.connection is None or self.connection.invalidated:
            _close(self.connection)
            self.connection = self._connect()
        lock = _OrderLock(self.connection, self.order_writers, self.shared)
        try:
            yield lock
        finally:
            lock.release()

    def _connect(self):
        """A connection for the writer alone; with a checkpointer, one taken out of the pool:
        its setting (`Checkpointer.prepare`) must not reach other connections."""
        connection = self.engine.connect()
        if self.checkpointer is not None:
            connection.detach()
            self.checkpointer.prepare(connection.connection.dbapi_connection)
        return connection

    def _checkpoint_if_due(self):
        """Between two transactions: the checkpointer's turn, if it is due."""
        if self.checkpointer is None or self.connection is None:
            return
        try:
            self.checkpointer.checkpoint_if_due(self.connection.connection.dbapi_connection)
        except Exception as error:  # noqa: BLE001 - the writer must go on writing
            log.warning("checkpoint failed (%s); the next batch takes a fresh connection",
                        error.__class__.__name__)
            self._drop_connection()

    def _relay(self, batch, outcomes):
        """Relay the batch's stored messages in id order; a failed relay is logged, never
        undoes the commit (the receivers get the message by `sync`)."""
        if self.relay is None:
            return
        stored = sorted((stored_id, index) for index, (stored_id, _ts) in enumerate(outcomes)
                        if stored_id is not None)
        for stored_id, index in stored:
            item = batch[index]
            try:
                self.relay(item.sender_id, item.envelope, stored_id, outcomes[index][1])
            except Exception as error:  # noqa: BLE001 - stored and acked whatever the relay
                log.warning("relaying message %d failed (%s)", stored_id,
                            error.__class__.__name__)

    def _transaction(self, order, batch):
        """Write the batch in one transaction on the order lock's connection, the lock taken
        first; answers (id or None, ts) per envelope once committed."""
        ts = now_ms()
        pairs, groups, seen = [], [], set()
        for item in batch:
            key = (item.sender_id, item.envelope.cid)
            if key not in seen:  # a later copy is explained after the commit
                seen.add(key)
                (groups if item.is_group else pairs).append(item)
        stored = {}
        connection = order.connection
        with connection.begin():
            order.take()
            if pairs:
                params = {"ts": ts}
                for index, item in enumerate(pairs):
                    params.update(item.params(index))
                sql = insert_sql(len(pairs), placeholder(connection))
                stored.update(_returned(connection.exec_driver_sql(sql, params), pairs))
            for chunk in _chunks(groups):
                stored.update(_write_groups(connection, chunk, ts))
        return [(stored.get(id(item)), ts) for item in batch]


def _close(connection):
    """Give a writer's connection back; a failure to do so must not stop the writer."""
    if connection is None:
        return
    try:
        connection.close()
    except Exception as error:  # noqa: BLE001 - a broken connection is dropped either way
        log.warning("could not close the writer's connection (%s)", error.__class__.__name__)


def _returned(result, items):
    """{id(item): stored id} from a RETURNING id, sender_id, cid (unique within the batch)."""
    by_key = {(item.sender_id, item.envelope.cid): item for item in items}
    return {id(by_key[(sender, cid)]): stored_id for stored_id, sender, cid in result}


def _chunks(groups):
    """The group envelopes in runs whose statement stays within MAX_PARAMS."""
    chunk, size = [], 0
    for item in groups:
        cost = _GROUP_PARAMS + len(_ENTRY_FIELDS) * len(item.envelope.keys)
        if chunk and size + cost > MAX_PARAMS:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk


def _write_groups(connection, items, ts):
    """Insert the group messages that pass the checks, then their wraps; {id(item): id}."""
    items = [item for item in items if _own_entry_holds(item)]
    if not items:
        return {}
    params = {"ts": ts}
    entry_index = 0
    for index, item in enumerate(items):
        env = item.envelope
        values = (index, item.sender_id, env.g, env.cid, env.sk, env.n, env.ct, len(env.keys))
        params.update({f"{field}{index}": value for field, value in zip(_GROUP_FIELDS, values)})
        for entry in env.keys:
            params.update({f"e{field}{entry_index}": value for field, value
                           in zip(_ENTRY_FIELDS, (index, entry.to, entry.rk))})
            entry_index += 1
    sql = insert_group_sql(len(items), entry_index, placeholder(connection))
    result = connection.exec_driver_sql(sql, params)
    stored = _returned(result, items)
    wraps = [{"message_id": stored[id(item)], "user_id": entry.to, "rk": entry.rk,
              "n": entry.n, "w": entry.w}
             for item in items if id(item) in stored for entry in item.envelope.keys]
    if wraps:
        connection.execute(MessageKey.__table__.insert(), wraps)
    return stored


def _own_entry_holds(item):
    """The sender's own entry exists and has rk = sk (§9.4 self wrap): else not inserted."""
    own = item.envelope.entry_for(item.sender_id)
    return own is not None and own.rk == item.envelope.sk


def _transient(error):
    """A failure that passes by itself: another process's lock, a dropped connection."""
    return is_locked(error) or (isinstance(error, DBAPIError) and error.connection_invalidated)


def _refusal(error):
    """What a handler answers for an envelope whose write failed (None: "explain it")."""
    if isinstance(error, IntegrityError):  # e.g. the recipient was deleted mid-batch
        return None
    refusal = transient_refusal(error, "message write")  # another process's lock: one line
    if refusal is not None:
        return refusal
    if _transient(error):
        log.warning("message write answered retry: the database connection was lost")
    else:
        log.error("message write failed", exc_info=error)
    return _busy()
