"""The message write path: one statement and one transaction per batch, ack after commit.

- A batch of envelopes is ONE statement, `WITH v AS (VALUES …) INSERT … SELECT … FROM v
  WHERE <the pair are friends, sk is the sender's key, rk the recipient's> ON CONFLICT
  (sender_id, cid) DO NOTHING RETURNING id`: one round trip to PostgreSQL per batch.
  The checks ride in the write, so they are exactly as fresh as the transaction (right across
  processes, with no cache to keep in step), and idempotency is the unique constraint's job:
  insert first, and only when nothing was inserted find out why (`service.explain_refusal`).
- One writer per process writes every envelope queued while its previous transaction ran in
  one transaction (group commit: one fsync for many messages). Each sender's handler waits
  for its own outcome, so the ack still follows the commit.
- The queue is bounded in length and in age: a send that finds it full, or that waited
  longer than `max_wait` before its batch started, is answered `retry` at once and nothing
  is stored; the client's outbox resends the same cid. Overload costs a quick nack, not a
  latency that grows without end.
- PostgreSQL: each batch takes a transaction-level advisory lock before its first insert,
  so ids become visible in id order across processes too (the §8 sync cursor never skips a
  late commit); within a process the single writer already commits in order. One lock per
  batch, not per message. SQLite's write lock gives the same order by itself.

Background work uses the async mode's `start_background_task`/`sleep` only (eventlet in
app.py, threads in the tests); `threading.Event` is green under eventlet's monkey-patching.
"""
import functools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..database import is_locked
from ..errors import ApiError, transient_refusal
from ..models import now_ms
from ..rooms import ordered

log = logging.getLogger(__name__)

MAX_BATCH = 256  # envelopes per transaction
IDLE_STOP = 10.0  # seconds without envelopes after which the writer task ends (restarts on demand)
OUTCOME_WAIT = 30.0  # seconds a handler waits for its batch; the writer is stuck past that
WRITER_ORDER_LOCK = 727274  # PostgreSQL advisory lock id (the one the per-message lock used)

_FIELDS = ("ord", "sender", "recipient", "lo", "hi", "cid", "sk", "rk", "n", "ct")
_INSERT_MANY = """
    WITH v ({fields}) AS (VALUES {rows})
    INSERT INTO messages (sender_id, recipient_id, lo_id, hi_id, cid, sk, rk, n, ct, ts)
    SELECT v.sender, v.recipient, v.lo, v.hi, v.cid, v.sk, v.rk, v.n, v.ct, :ts FROM v
    WHERE EXISTS (SELECT 1 FROM friendships f
                  WHERE f.lo_id = v.lo AND f.hi_id = v.hi AND f.accepted)
      AND EXISTS (SELECT 1 FROM identity_keys k WHERE k.user_id = v.sender AND k.key_id = v.sk)
      AND EXISTS (SELECT 1 FROM identity_keys k WHERE k.user_id = v.recipient AND k.key_id = v.rk)
    ORDER BY v.ord
    ON CONFLICT (sender_id, cid) DO NOTHING
    RETURNING id, sender_id, cid
"""


@functools.lru_cache(maxsize=MAX_BATCH)
def insert_statement(count):
    """The one statement that writes a batch of `count` envelopes (one round trip): each row
    only if the pair are friends and both key ids hold, ids in batch order, a cid already
    stored (or twice in the batch) skipped. Bound parameters only, named `<field><index>`."""
    rows = ", ".join("(" + ", ".join(f":{field}{i}" for field in _FIELDS) + ")"
                     for i in range(count))
    return text(_INSERT_MANY.format(fields=", ".join(_FIELDS), rows=rows))


def _busy():
    """A fresh `retry` refusal (an exception instance is not shared between handlers)."""
    return ApiError("retry", "the server is busy; nothing was stored, try again in a moment")


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

    def params(self, index):
        """This envelope's row of the batch statement."""
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
    """

    def __init__(self, engine, start_task, sleep, limit, max_wait):
        self.engine = engine
        self.start_task = start_task
        self.sleep = sleep
        self.limit = limit
        self.max_wait = max_wait
        self.queue = deque()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.running = False
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

    def _run(self):
        """Write batches while envelopes come; end after IDLE_STOP seconds without any."""
        while True:
            if not self.wake.wait(IDLE_STOP):
                with self.lock:
                    if not self.queue:
                        self.running = False
                        return
                continue
            self.wake.clear()
            self.sleep(0)  # let handlers that are ready queue theirs: one transaction for all
            while True:
                batch = self._take()
                if not batch:
                    break
                self._write(batch)

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
            outcomes = self._transaction(batch)
        except Exception as error:  # noqa: BLE001 - every waiting handler must get an answer
            if len(batch) == 1 or _transient(error):
                for item in batch:
                    item.finish(error=_refusal(error))
                return
            for item in batch:
                self._write([item])
            return
        for item, (stored_id, ts) in zip(batch, outcomes):
            item.finish(stored_id, ts)

    def _transaction(self, batch):
        """Write the batch in one transaction; answers (id or None, ts) per envelope."""
        ts = now_ms()
        params = {"ts": ts}
        for index, item in enumerate(batch):
            params.update(item.params(index))
        with self.engine.begin() as connection:
            if self.order_writers:
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                                   {"id": WRITER_ORDER_LOCK})
            stored = {(sender, cid): stored_id for stored_id, sender, cid
                      in connection.execute(insert_statement(len(batch)), params)}
        # A cid twice in one batch is stored once: the first envelope gets the id, the
        # other is explained as a retry of it.
        return [(stored.pop((item.sender_id, item.envelope.cid), None), ts) for item in batch]


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
