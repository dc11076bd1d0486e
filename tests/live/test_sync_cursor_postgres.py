"""PROTOCOL §8's sync cursor on PostgreSQL under a forced interleaving.

A client syncs with `after` = the largest id it has seen, so no sync may return an id while
a smaller id is still uncommitted: that smaller message would never be synced. The writer
takes one advisory lock per batch (chat/writer.py, WRITER_ORDER_LOCK), so a transaction that
holds the lock and has inserted a row keeps every later batch, and its larger ids, invisible
until it commits. The negative control turns the lock off and shows the same interleaving
lets a sync see the larger id first, so the check here can fail.

The lock is held until the batch's relays are done, so processes also relay in id order:
two writers on one database (as two processes) show that a batch stored elsewhere cannot
be relayed before a smaller id's relay, and the negative control shows the opposite with
the lock released at commit.

In-process (threading mode, the Flask-SocketIO test client) on a scratch PostgreSQL database;
the competing transaction is a raw psycopg2 connection, as another server process would be.
"""
import threading
import time

import psycopg2
import pytest

from sendapp.chat import service
from sendapp.chat.writer import WRITER_ORDER_LOCK
from sendapp.config import _database_url
from sendapp.extensions import db, socketio
from sendapp.models import now_ms
from sendapp.rooms import ordered
from support.messages import text_envelope
from support.people import https_client, register
from support.services import scratch_postgres_database

HOLD = 1.5  # seconds the competing transaction stays open
WAIT = 10.0
POLL = 0.01


@pytest.fixture
def pg(make_app):
    """(app on a scratch PostgreSQL database, its plain URL, alice, bob: friends, keys stored)."""
    with scratch_postgres_database() as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=_database_url(url))
        alice, bob = register(https_client(app), "alice"), register(https_client(app), "bob")
        assert alice.post("/api/friends", json={"username": "bob"}).status_code == 201
        assert bob.post(f"/api/friends/{alice.id}/accept").status_code == 200
        yield app, url, alice, bob
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def insert_row(cursor, sender, recipient, body):
    """A valid message row for a real pair, inserted on a raw connection; answers its id."""
    env = text_envelope(sender, recipient, body)
    lo, hi = ordered(sender.id, recipient.id)
    cursor.execute(
        "INSERT INTO messages (sender_id, recipient_id, lo_id, hi_id, cid, sk, rk, n, ct, ts)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (sender.id, recipient.id, lo, hi, env["cid"], env["sk"], env["rk"], env["n"], env["ct"],
         now_ms()))
    return cursor.fetchone()[0]


class SyncWatcher:
    """Takes bob's sync (the real `service.sync`) over and over in a thread; keeps each answer."""

    def __init__(self, app, user_id):
        self.app, self.user_id = app, user_id
        self.snapshots = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def take(self):
        with self.app.app_context():
            rows, _more, _last = service.sync(self.user_id, 0)
            ids = [m.id for m in rows]
            db.session.remove()
        self.snapshots.append(ids)
        return ids

    def _run(self):
        while not self.stop.is_set():
            self.take()
            time.sleep(POLL)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join(WAIT)


def skipped_ids(snapshots, smaller, larger):
    """The snapshots that break the cursor rule: `larger` visible, `smaller` not."""
    return [ids for ids in snapshots if larger in ids and smaller not in ids]


def send_in_thread(app, person, envelope):
    """Send over the person's socket (the real `send` handler and writer) from a thread."""
    sio = socketio.test_client(app, flask_test_client=person.client)
    assert sio.is_connected()
    outcome = {}
    done = threading.Event()

    def run():
        try:
            outcome["ack"] = sio.emit("send", envelope, callback=True)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return outcome, done, sio


def waiting_advisory_locks(url):
    """Advisory lock requests waiting in this test's database (other databases may have theirs)."""
    with psycopg2.connect(url) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                       " WHERE d.datname = current_database() AND l.locktype = 'advisory'"
                       " AND NOT l.granted")
        return cursor.fetchone()[0]


def test_a_later_batch_waits_for_an_open_transaction_holding_the_order_lock(pg):
    app, url, alice, bob = pg
    other_process = psycopg2.connect(url)
    try:
        with SyncWatcher(app, bob.id) as watcher, other_process.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_ORDER_LOCK,))
            first = insert_row(cursor, alice, bob, "first, committed late")
            outcome, done, sio = send_in_thread(app, alice, text_envelope(alice, bob, "second"))
            assert not done.wait(HOLD), f"acked while the order lock was held: {outcome}"
            assert waiting_advisory_locks(url) == 1  # the writer's batch, at the lock
            during = watcher.take()
            other_process.commit()
            assert done.wait(WAIT), "no ack after the competing transaction committed"
            watcher.take()
        ack = outcome["ack"]
        assert ack["ok"] is True, ack
        second = ack["id"]
        assert second > first
        assert first not in during and second not in during
        assert len(watcher.snapshots) > 10  # syncs really ran while the lock was held
        assert skipped_ids(watcher.snapshots, first, second) == []
        assert watcher.snapshots[-1][-2:] == [first, second]
        sio.disconnect()
    finally:
        other_process.close()


def test_negative_control_without_the_lock_a_sync_sees_the_larger_id_first(pg):
    """The same interleaving with the writer's order lock off: the check above must fire."""
    app, url, alice, bob = pg
    with app.app_context():
        service.writer().order_writers = False
    other_process = psycopg2.connect(url)
    try:
        watcher = SyncWatcher(app, bob.id)
        with other_process.cursor() as cursor:
            first = insert_row(cursor, alice, bob, "first, committed late")  # no lock taken
            outcome, done, sio = send_in_thread(app, alice, text_envelope(alice, bob, "second"))
            assert done.wait(WAIT), "the writer waited although nothing should hold it"
            second = outcome["ack"]["id"]
            watcher.take()
            other_process.commit()
        watcher.take()
        assert second > first
        assert skipped_ids(watcher.snapshots, first, second) == [[second]]
        assert watcher.snapshots[-1] == [first, second]
        sio.disconnect()
    finally:
        other_process.close()


def two_writers(app, on_relay):
    """Two message writers on the app's database, as two server processes have; each relays
    through `on_relay(writer name, stored id)`."""
    from sendapp.chat import envelope as envelopes
    from sendapp.chat.writer import MessageWriter

    with app.app_context():
        engine = db.engine
    made = {}
    for name in ("A", "B"):
        made[name] = MessageWriter(engine, socketio.start_background_task, socketio.sleep,
                                   512, 30.0, lambda _s, _e, stored_id, _ts, name=name:
                                   on_relay(name, stored_id), shared=True)
    return made, envelopes


@pytest.mark.parametrize("locked", [True, False], ids=["order_lock", "negative_control"])
def test_a_process_relays_no_id_before_a_smaller_one_stored_elsewhere_was_relayed(pg, locked):
    """Process A has committed id 7 and not yet relayed it (say, Redis is slow, or it is
    about to be killed); process B stores id 15 meanwhile. With the order lock held until
    A's relays are done, B can neither commit nor relay 15 before A relays 7, so no client
    moves its cursor (§8: the highest id received live) past an unrelayed 7. The negative
    control releases the lock at commit, as before, and B's relay then comes first."""
    app, _url, alice, bob = pg
    relayed, a_relaying, release_a = [], threading.Event(), threading.Event()

    def on_relay(name, stored_id):
        if name == "A":
            a_relaying.set()
            assert release_a.wait(WAIT)
        relayed.append((name, stored_id))

    writers, envelopes = two_writers(app, on_relay)
    if not locked:  # the lock released at commit, as one process without a queue has it
        for writer in writers.values():
            writer.shared = False
    results = {}

    def write(name, body):
        with app.app_context():
            results[name] = writers[name].write(
                alice.id, envelopes.parse(text_envelope(alice, bob, body)))

    first = threading.Thread(target=write, args=("A", "first"))
    first.start()
    assert a_relaying.wait(WAIT), "A never relayed"
    second = threading.Thread(target=write, args=("B", "second"))
    second.start()
    second.join(HOLD)
    if locked:
        assert second.is_alive() and relayed == [], "B relayed before A had relayed"
    else:
        assert not second.is_alive() and [name for name, _id in relayed] == ["B"]
    release_a.set()
    first.join(WAIT)
    second.join(WAIT)
    assert not first.is_alive() and not second.is_alive()
    a_id, b_id = results["A"][0], results["B"][0]
    assert a_id < b_id
    expected = [("A", a_id), ("B", b_id)] if locked else [("B", b_id), ("A", a_id)]
    assert relayed == expected
