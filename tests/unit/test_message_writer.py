"""The message writer (chat/writer.py) in-process on SQLite, with its real background task.

The writer is held by another connection's write lock (a plain sqlite3 connection, as a
backup or a second process would hold it): its current batch waits inside its transaction
while the next envelopes queue up behind it. DB_LOCK_WAIT is raised so the held batch waits
instead of answering `retry`.
"""
import concurrent.futures
import contextlib
import gc
import sqlite3
import time

import pytest
from sqlalchemy import event
from sqlalchemy.sql.elements import BindParameter

from sendapp.chat import envelope as envelopes
from sendapp.chat import writer as writer_module
from sendapp.chat.writer import MessageWriter
from sendapp.errors import ApiError
from sendapp.extensions import db, socketio
from sendapp.models import Message, MessageKey
from support.group_messages import group_envelope, make_group
from support.messages import text_envelope

LOCK_WAIT = 20.0  # seconds a held batch may wait for the test's lock
WAIT = 10.0
INSTANT = 0.2  # seconds: what "at once" means for a refusal


@pytest.fixture
def app(make_app):
    return make_app(DB_LOCK_WAIT=LOCK_WAIT)


@pytest.fixture
def trio(make_user, make_friends):
    """alice, bob and carol; alice is friends with both."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    make_friends(alice, bob)
    make_friends(alice, carol)
    return alice, bob, carol


@pytest.fixture
def pool():
    with concurrent.futures.ThreadPoolExecutor(64) as workers:
        yield workers


def make_writer(app, limit=512, max_wait=30.0, gather=0.0):
    with app.app_context():
        return MessageWriter(db.engine, socketio.start_background_task, socketio.sleep,
                             limit, max_wait, gather=gather)


def envelope(app, sender, recipient, body):
    with app.app_context():
        return envelopes.parse(text_envelope(sender, recipient, body))


def wait_until(condition, within=WAIT):
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


@contextlib.contextmanager
def write_lock(app):
    """Hold SQLite's write lock from another connection; yields it (commit releases it)."""
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, timeout=WAIT)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield other
        if other.in_transaction:
            other.execute("COMMIT")
    finally:
        other.close()


def hold_writer(app, writer, pool, sender, recipient):
    """Queue one envelope and wait until the writer has taken it into its (blocked) batch."""
    future = pool.submit(writer.write, sender.id, envelope(app, sender, recipient, "blocker"))
    wait_until(lambda: writer.running and not writer.queue)
    time.sleep(0.1)  # the batch is now inside its transaction, waiting for the lock
    assert not future.done()
    return future


@contextlib.contextmanager
def counted(app, name):
    """Record each `name` event (commit, rollback) of the app's engine while the block runs."""
    seen = []

    def record(_connection):
        seen.append(name)

    with app.app_context():
        engine = db.engine
    event.listen(engine, name, record)
    try:
        yield seen
    finally:
        event.remove(engine, name, record)


def stored_cids(app):
    with app.app_context():
        return set(db.session.execute(db.select(Message.cid)).scalars())


def test_a_full_queue_is_answered_retry_at_once_and_nothing_is_stored(app, trio, pool):
    alice, bob, _carol = trio
    writer = make_writer(app, limit=1)
    with write_lock(app):
        blocker = hold_writer(app, writer, pool, alice, bob)
        queued = pool.submit(writer.write, alice.id, envelope(app, alice, bob, "queued"))
        wait_until(lambda: len(writer.queue) == 1)
        refused = envelope(app, alice, bob, "refused")
        started = time.monotonic()
        with pytest.raises(ApiError) as error:
            writer.write(alice.id, refused)
        assert time.monotonic() - started < INSTANT
        assert error.value.code == "retry"
    assert blocker.result(WAIT) is not None
    assert queued.result(WAIT) is not None
    cids = stored_cids(app)
    assert refused.cid not in cids and len(cids) == 2


def test_an_envelope_older_than_max_wait_is_answered_retry_and_not_stored(app, trio, pool):
    alice, bob, _carol = trio
    writer = make_writer(app, max_wait=0.2)
    with write_lock(app):
        blocker = hold_writer(app, writer, pool, alice, bob)
        late = envelope(app, alice, bob, "late")
        queued = pool.submit(writer.write, alice.id, late)
        wait_until(lambda: len(writer.queue) == 1)
        time.sleep(0.5)  # older than max_wait before its batch can start
    assert blocker.result(WAIT) is not None
    with pytest.raises(ApiError) as error:
        queued.result(WAIT)
    assert error.value.code == "retry"
    assert late.cid not in stored_cids(app)


def test_one_envelope_failing_at_the_database_does_not_refuse_its_batch(app, trio, pool):
    """Carol's user row goes between queueing and writing (deleted by a connection that does
    not cascade, so her friendship and key rows stay and only the foreign key fails)."""
    alice, bob, carol = trio
    writer = make_writer(app)
    good = [envelope(app, alice, bob, "good 1"), envelope(app, bob, alice, "good 2")]
    bad = envelope(app, alice, carol, "to someone deleted")
    with counted(app, "rollback") as rollbacks:
        with write_lock(app) as other:
            blocker = hold_writer(app, writer, pool, alice, bob)
            futures = [pool.submit(writer.write, alice.id, good[0]),
                       pool.submit(writer.write, alice.id, bad),
                       pool.submit(writer.write, bob.id, good[1])]
            wait_until(lambda: len(writer.queue) == 3)  # one batch: MAX_BATCH is far above 3
            other.execute("DELETE FROM users WHERE id = ?", (carol.id,))
        assert blocker.result(WAIT) is not None
        first, refused, second = (f.result(WAIT) for f in futures)
    assert rollbacks  # the batch really failed at the database (not the insert's checks)
    assert refused is None  # "not inserted": the caller explains why
    assert first is not None and second is not None and first[0] != second[0]
    with app.app_context():
        rows = {m.cid: m.id for m in db.session.execute(db.select(Message)).scalars()}
    assert rows[good[0].cid] == first[0] and rows[good[1].cid] == second[0]
    assert bad.cid not in rows


def test_envelopes_queued_while_a_batch_runs_are_written_in_one_transaction(app, trio, pool):
    alice, bob, _carol = trio
    writer = make_writer(app)
    many = [envelope(app, alice, bob, f"message {i}") for i in range(50)]
    with counted(app, "commit") as commits:
        with write_lock(app):
            blocker = hold_writer(app, writer, pool, alice, bob)
            futures = [pool.submit(writer.write, alice.id, e) for e in many]
            wait_until(lambda: len(writer.queue) == len(many))
        assert blocker.result(WAIT) is not None
        outcomes = [f.result(WAIT) for f in futures]
    assert all(o is not None for o in outcomes)
    assert len({stored_id for stored_id, _ts in outcomes}) == len(many)
    assert len({ts for _id, ts in outcomes}) == 1  # one transaction stamps one ts
    assert len(commits) <= 2, f"{len(commits)} commits for the blocker and 50 envelopes"


def bind_parameters():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, BindParameter))


def test_batches_of_new_sizes_leave_no_statement_objects_for_the_collector(app, trio, pool):
    """The batch statements are cached as plain SQL: a SQLAlchemy text() per batch size kept
    ten BindParameters per row, objects every full garbage collection walks."""
    alice, bob, _carol = trio
    writer = make_writer(app)
    writer_module.insert_sql.cache_clear()
    assert writer.write(alice.id, envelope(app, alice, bob, "warm-up")) is not None
    before = bind_parameters()
    sizes = (3, 7, 12, 20)
    for size in sizes:
        many = [envelope(app, alice, bob, f"batch of {size}: {i}") for i in range(size)]
        with write_lock(app):
            blocker = hold_writer(app, writer, pool, alice, bob)
            futures = [pool.submit(writer.write, alice.id, e) for e in many]
            wait_until(lambda: len(writer.queue) == size)
        assert blocker.result(WAIT) is not None
        assert all(f.result(WAIT) is not None for f in futures)
    # batches of exactly 1 (warm-up, blockers) and each size: the sizes really were new
    assert writer_module.insert_sql.cache_info().currsize == 1 + len(sizes)
    assert bind_parameters() - before < 20  # text() statements: 10 per row, 420 here


# --- group envelopes (PROTOCOL §9.5) in the same writer --------------------------------------

@pytest.fixture
def group_of_trio(app, trio):
    """alice, bob and carol in one group; answers its id."""
    return make_group(app, *trio)


def group_env(app, sender, group_id, members, cid=None):
    with app.app_context():
        return envelopes.parse(group_envelope(sender, group_id, members, cid=cid))


def stored_wraps(app):
    with app.app_context():
        return {(k.message_id, k.user_id) for k in db.session.execute(
            db.select(MessageKey)).scalars()}


def test_group_and_pair_envelopes_queued_together_share_one_transaction(app, trio, pool,
                                                                         group_of_trio):
    alice, bob, carol = trio
    writer = make_writer(app)
    mixed = []
    for i in range(20):
        mixed.append((alice, envelope(app, alice, bob, f"pair {i}")))
        mixed.append((bob, group_env(app, bob, group_of_trio, trio)))
    with counted(app, "commit") as commits:
        with write_lock(app):
            blocker = hold_writer(app, writer, pool, alice, bob)
            futures = [pool.submit(writer.write, sender.id, e) for sender, e in mixed]
            wait_until(lambda: len(writer.queue) == len(mixed))
        assert blocker.result(WAIT) is not None
        outcomes = [f.result(WAIT) for f in futures]
    assert all(o is not None for o in outcomes)
    assert len({ts for _id, ts in outcomes}) == 1  # one transaction stamps one ts
    assert len(commits) <= 2, f"{len(commits)} commits for the blocker and 40 envelopes"
    group_ids = [stored_id for (sender, e), (stored_id, _ts) in zip(mixed, outcomes)
                 if sender is bob]
    assert group_ids == sorted(group_ids)  # in queue order among themselves
    assert stored_wraps(app) == {(m, u.id) for m in group_ids for u in trio}


def test_a_group_envelope_that_fails_its_checks_does_not_refuse_its_batch(app, trio, pool,
                                                                         group_of_trio):
    alice, bob, carol = trio
    writer = make_writer(app)
    good = group_env(app, alice, group_of_trio, trio)
    stale = group_env(app, alice, group_of_trio, [alice, bob])
    stranger = group_env(app, alice, group_of_trio + 1, trio)
    with app.app_context():
        raw = group_envelope(alice, group_of_trio, trio)
        raw["keys"][0]["rk"] = bob.key_id  # the sender's own entry must use sk
        not_self = envelopes.parse(raw)
    with write_lock(app):
        blocker = hold_writer(app, writer, pool, alice, bob)
        futures = [pool.submit(writer.write, alice.id, e)
                   for e in (stale, good, stranger, not_self)]
        wait_until(lambda: len(writer.queue) == 4)
    assert blocker.result(WAIT) is not None
    refused_stale, stored, refused_stranger, refused_self = (f.result(WAIT) for f in futures)
    assert (refused_stale, refused_stranger, refused_self) == (None, None, None)
    assert stored is not None
    assert stored_cids(app) >= {good.cid} and not stored_cids(app) & {
        stale.cid, stranger.cid, not_self.cid}
    assert stored_wraps(app) == {(stored[0], u.id) for u in trio}


def test_a_cid_twice_in_one_batch_is_tried_once_across_kinds(app, trio, pool, group_of_trio):
    """The first copy is written; the later one is "not inserted" (explained after the commit),
    even when it is of the other kind."""
    alice, bob, carol = trio
    writer = make_writer(app)
    first = group_env(app, alice, group_of_trio, trio)
    with app.app_context():
        second = envelopes.parse(text_envelope(alice, bob, "same cid", cid=first.cid))
    with write_lock(app):
        blocker = hold_writer(app, writer, pool, alice, bob)
        futures = [pool.submit(writer.write, alice.id, e) for e in (first, second)]
        wait_until(lambda: len(writer.queue) == 2)
    assert blocker.result(WAIT) is not None
    stored, skipped = (f.result(WAIT) for f in futures)
    assert stored is not None and skipped is None
    with app.app_context():
        row = db.session.execute(db.select(Message).filter_by(cid=first.cid)).scalar_one()
    assert (row.id, row.group_id) == (stored[0], group_of_trio)


def test_group_batches_beyond_the_parameter_bound_are_split_within_one_transaction(
        app, trio, pool, group_of_trio, monkeypatch):
    alice, bob, carol = trio
    monkeypatch.setattr(writer_module, "MAX_PARAMS", 40)  # about two envelopes per statement
    writer = make_writer(app)
    many = [group_env(app, carol, group_of_trio, trio) for _ in range(7)]
    statements = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if "INSERT INTO messages" in statement:
            statements.append(len(parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    with counted(app, "commit") as commits:
        with write_lock(app):
            blocker = hold_writer(app, writer, pool, alice, bob)
            futures = [pool.submit(writer.write, carol.id, e) for e in many]
            wait_until(lambda: len(writer.queue) == len(many))
        assert blocker.result(WAIT) is not None
        outcomes = [f.result(WAIT) for f in futures]
    event.remove(engine, "before_cursor_execute", record)
    assert all(o is not None for o in outcomes) and len({ts for _i, ts in outcomes}) == 1
    assert len(commits) <= 2
    assert len(statements) == 1 + 4 and max(statements) <= 40  # the blocker, then 2+2+2+1
    ids = [stored_id for stored_id, _ts in outcomes]
    assert ids == sorted(ids) and len(set(ids)) == len(many)
    assert stored_wraps(app) == {(m, u.id) for m in ids for u in trio}


def test_a_group_message_is_never_stored_without_its_wraps(app, trio, group_of_trio):
    """The message row and its wraps are one transaction: if writing the wraps fails, the
    message is not stored either (else nobody could ever read it, and every resend of its
    cid would be `conflict`). Python's sqlite3 autocommits a statement that starts with WITH."""
    alice, bob, carol = trio
    writer = make_writer(app)
    with app.app_context():
        engine = db.engine

    def fail_wraps(_conn, _cursor, statement, *_args):
        if statement.lstrip().startswith("INSERT INTO message_keys"):
            raise RuntimeError("the disk went away while writing the wraps")

    event.listen(engine, "before_cursor_execute", fail_wraps)
    try:
        with pytest.raises(ApiError):
            writer.write(alice.id, group_env(app, alice, group_of_trio, trio))
    finally:
        event.remove(engine, "before_cursor_execute", fail_wraps)
    with app.app_context():
        stored = db.session.execute(
            db.select(Message.id).where(Message.group_id.is_not(None))).all()
    assert stored == []
    assert stored_wraps(app) == set()


def test_the_writer_keeps_one_connection_from_batch_to_batch(app, trio):
    """A pool checkout per batch cost a checkout, a reset and a cold page cache once per
    message when messages come one at a time (docs/BENCHMARKS.md)."""
    alice, bob, _carol = trio
    writer = make_writer(app)
    sent = [envelope(app, alice, bob, f"one at a time {i}") for i in range(5)]
    checkouts = []
    with app.app_context():
        engine = db.engine

    def record(*_args):
        checkouts.append(1)

    event.listen(engine, "checkout", record)
    try:
        outcomes = [writer.write(alice.id, e) for e in sent]  # each waits: one batch each
    finally:
        event.remove(engine, "checkout", record)
    assert all(outcome is not None for outcome in outcomes)
    assert {e.cid for e in sent} <= stored_cids(app)
    assert len(checkouts) == 1, f"{len(checkouts)} checkouts for 5 batches"


def test_a_batch_on_a_broken_connection_is_refused_and_the_next_gets_a_fresh_one(app, trio):
    alice, bob, _carol = trio
    writer = make_writer(app)
    assert writer.write(alice.id, envelope(app, alice, bob, "before")) is not None
    broken = writer.connection
    broken.connection.dbapi_connection.close()  # behind SQLAlchemy's back, as a crash would
    lost = envelope(app, alice, bob, "on the broken connection")
    with pytest.raises(ApiError) as error:
        writer.write(alice.id, lost)
    assert error.value.code == "retry"  # nothing stored: the client resends the same cid
    after = envelope(app, alice, bob, "after")
    assert writer.write(alice.id, after) is not None
    assert writer.connection is not broken
    assert writer.write(alice.id, lost) is not None  # the resend
    assert {after.cid, lost.cid} <= stored_cids(app)


def writer_holding_its_connection(app, sender, recipient):
    """A writer that has written one envelope and kept its connection, and the engine's pool."""
    writer = make_writer(app)
    with app.app_context():
        pool_of = db.engine.pool
    assert writer.write(sender.id, envelope(app, sender, recipient, "the first")) is not None
    assert pool_of.checkedout() == 1
    return writer, pool_of


def test_a_writer_that_stops_for_lack_of_envelopes_gives_its_connection_back(
        app, trio, monkeypatch):
    monkeypatch.setattr(writer_module, "IDLE_STOP", 0.2)
    alice, bob, _carol = trio
    writer, pool_of = writer_holding_its_connection(app, alice, bob)
    wait_until(lambda: not writer.running)
    wait_until(lambda: pool_of.checkedout() == 0)
    assert writer.connection is None
    assert writer.write(alice.id, envelope(app, alice, bob, "and again")) is not None


def test_closing_the_writer_gives_its_connection_back_and_a_later_batch_takes_a_new_one(
        app, trio):
    """app.py closes it at shutdown before disposing of the engine: a connection still
    checked out is never closed, and SQLite then leaves its WAL beside the database."""
    alice, bob, _carol = trio
    writer, pool_of = writer_holding_its_connection(app, alice, bob)
    writer.close()
    assert pool_of.checkedout() == 0 and writer.connection is None
    assert writer.write(alice.id, envelope(app, alice, bob, "a late one")) is not None


def test_under_a_steady_load_the_envelopes_of_the_gather_time_share_one_commit(app, trio, pool):
    """A transaction starts `gather` after the previous one started: three envelopes sent
    one after another within it are written together (without the wait, the first would
    be committed alone at once)."""
    alice, bob, _carol = trio
    writer = make_writer(app, gather=0.5)
    assert writer.write(alice.id, envelope(app, alice, bob, "first")) is not None
    with counted(app, "commit") as commits:
        futures = []
        for i in range(3):
            futures.append(pool.submit(writer.write, alice.id,
                                       envelope(app, alice, bob, f"steady {i}")))
            time.sleep(0.05)
        outcomes = [f.result(WAIT) for f in futures]
    assert all(o is not None for o in outcomes)
    assert len(commits) == 1, f"{len(commits)} commits for three envelopes in 0.15 s"


def test_a_message_after_a_pause_never_waits_for_the_gather_time(app, trio):
    alice, bob, _carol = trio
    writer = make_writer(app, gather=0.5)
    assert writer.write(alice.id, envelope(app, alice, bob, "first")) is not None
    time.sleep(0.6)  # longer than the gather time: the next one is written at once
    start = time.monotonic()
    assert writer.write(alice.id, envelope(app, alice, bob, "after a pause")) is not None
    assert time.monotonic() - start < INSTANT


def test_a_large_batch_starts_without_gathering(app, trio, pool):
    """GATHER_BELOW envelopes queued behind a running transaction are written as soon as it
    ends, not `gather` after its start."""
    alice, bob, _carol = trio
    writer = make_writer(app, gather=5.0)
    many = [envelope(app, alice, bob, f"message {i}") for i in range(writer_module.GATHER_BELOW)]
    with write_lock(app):
        blocker = hold_writer(app, writer, pool, alice, bob)
        futures = [pool.submit(writer.write, alice.id, e) for e in many]
        wait_until(lambda: len(writer.queue) == len(many))
        released = time.monotonic()
    assert blocker.result(WAIT) is not None
    assert all(f.result(WAIT) is not None for f in futures)
    assert time.monotonic() - released < 2.0, "the full batch waited for the gather time"


def test_the_apps_writer_gathers_for_the_configured_milliseconds(make_app):
    """SENDAPP_WRITE_GATHER_MS (default 1) reaches the writer in seconds; 0 turns it off."""
    from sendapp.chat import service
    from sendapp.config import Config

    assert Config({}).WRITE_GATHER_MS == 1.0
    assert Config({"SENDAPP_WRITE_GATHER_MS": "0"}).WRITE_GATHER_MS == 0.0
    for setting, seconds in ((1.0, 0.001), (0.0, 0.0)):
        with make_app(WRITE_GATHER_MS=setting).app_context():
            assert service.writer().gather == seconds
