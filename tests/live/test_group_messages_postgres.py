"""Group messages (PROTOCOL §9.5) on PostgreSQL: the writer's group statement, sync, history and
the conversation list run there too, and a membership change that holds the writer's order
lock (chat/writer.py, `hold_write_order`) is seen by every batch that commits after it.

In-process (threading mode, the Flask-SocketIO test client) on a scratch PostgreSQL database;
the competing membership change is a raw psycopg2 connection, as another server process
would make it.
"""
import threading

import psycopg2
import pytest

from sendapp.chat.writer import WRITER_ORDER_LOCK
from sendapp.config import _database_url
from sendapp.extensions import db, socketio
from support.group_messages import delivered_to, group_envelope, make_group
from support.messages import text_envelope
from support.people import https_client, register
from support.services import scratch_postgres_database

HOLD = 1.5  # seconds the competing transaction stays open
WAIT = 10.0


@pytest.fixture
def pg(make_app):
    """(app on a scratch PostgreSQL database, its plain URL, alice, bob, carol, group id)."""
    with scratch_postgres_database() as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=_database_url(url))
        alice, bob, carol = (register(https_client(app), n) for n in ("alice", "bob", "carol"))
        assert alice.post("/api/friends", json={"username": "bob"}).status_code == 201
        assert bob.post(f"/api/friends/{alice.id}/accept").status_code == 200
        group_id = make_group(app, alice, bob, carol)
        yield app, url, alice, bob, carol, group_id
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def connect(app, person):
    sio = socketio.test_client(app, flask_test_client=person.client)
    assert sio.is_connected()
    sio.get_received()
    return sio


def messages(sio):
    """Payloads of `message` events (the test client unwraps single arguments)."""
    return [e["args"][0] if isinstance(e["args"], list) else e["args"]
            for e in sio.get_received() if e["name"] == "message"]


def test_group_messages_are_stored_synced_and_listed_on_postgresql(pg):
    app, _url, alice, bob, carol, group_id = pg
    a, b = connect(app, alice), connect(app, bob)
    pair = a.emit("send", text_envelope(alice, bob, "pair"), callback=True)
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    ack = a.emit("send", envelope, callback=True)
    assert ack["ok"] is True and ack["id"] > pair["id"], ack
    assert a.emit("send", envelope, callback=True) == ack  # a retry: the first id and ts
    stale = a.emit("send", group_envelope(alice, group_id, [alice, bob]), callback=True)
    assert stale["error"] == "stale_members"
    assert stale["members"] == sorted([alice.id, bob.id, carol.id])
    assert messages(b)[-1] == delivered_to(envelope, bob, ack, alice)
    synced = b.emit("sync", {"after": 0, "limit": 1}, callback=True)
    assert [m["id"] for m in synced["messages"]] == [pair["id"]]
    assert synced["more"] is True and synced["last"] == ack["id"]
    page = bob.get(f"/api/groups/{group_id}/messages").get_json()
    assert page == {"messages": [delivered_to(envelope, bob, ack, alice)], "more": False}
    read = b.emit("read", {"group": group_id, "up_to": 10**9}, callback=True)
    assert read == {"ok": True, "up_to": ack["id"]}
    assert carol.get("/api/conversations").get_json()["groups"] == [
        {"group": group_id, "last_id": ack["id"], "last_ts": ack["ts"], "unread": 1,
         "read_up_to": 0}]
    a.disconnect()
    b.disconnect()


def remove_holding(cursor, group_id, user_id, lock):
    """Remove a member on a raw connection (left open), with or without the order lock."""
    if lock:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_ORDER_LOCK,))
    cursor.execute("DELETE FROM group_members WHERE group_id = %s AND user_id = %s",
                   (group_id, user_id))


def send_in_thread(sio, envelope):
    outcome, done = {}, threading.Event()

    def run():
        try:
            outcome["ack"] = sio.emit("send", envelope, callback=True)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return outcome, done


def test_a_batch_waits_for_a_membership_change_holding_the_order_lock_and_sees_it(pg):
    app, url, alice, bob, carol, group_id = pg
    a, c = connect(app, alice), connect(app, carol)
    other_process = psycopg2.connect(url)
    try:
        with other_process.cursor() as cursor:
            remove_holding(cursor, group_id, carol.id, lock=True)
            outcome, done = send_in_thread(a, group_envelope(alice, group_id,
                                                             [alice, bob, carol]))
            assert not done.wait(HOLD), f"acked while a membership change was open: {outcome}"
            other_process.commit()
        assert done.wait(WAIT), "no ack after the membership change committed"
    finally:
        other_process.close()
    ack = outcome["ack"]
    assert ack["ok"] is False and ack["error"] == "stale_members", ack
    assert ack["members"] == sorted([alice.id, bob.id])
    assert messages(c) == []
    a.disconnect()
    c.disconnect()


def test_negative_control_a_membership_change_without_the_lock_is_not_waited_for(pg):
    """The same interleaving without the lock: the batch commits a message wrapped for a
    member whose removal is already under way, so the lock above is what keeps it out."""
    app, url, alice, bob, carol, group_id = pg
    a = connect(app, alice)
    other_process = psycopg2.connect(url)
    try:
        with other_process.cursor() as cursor:
            remove_holding(cursor, group_id, carol.id, lock=False)
            outcome, done = send_in_thread(a, group_envelope(alice, group_id,
                                                             [alice, bob, carol]))
            assert done.wait(WAIT), "the writer waited although nothing held its lock"
            other_process.commit()
    finally:
        other_process.close()
    assert outcome["ack"]["ok"] is True, outcome
    a.disconnect()
