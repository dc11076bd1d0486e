"""A socket's identity comes from the socket watch (auth/revocation.py), not the database.

Events are answered for the user recorded at connect, with no read of users or
login_sessions per event; the watch's sweep is what keeps a socket-only session alive,
by writing last_seen for sessions whose sockets had events since the last sweep.
"""
import re
import time

import pytest
from sqlalchemy import event

from sendapp.auth import revocation
from sendapp.extensions import db, socketio
from sendapp.models import LoginSession
from support.messages import text_envelope
from support.people import https_client, register
from tests.socket.test_revocation import wait_disconnected

NO_SWEEP = 3600  # seconds: the watch's own sweep stays out of the measured window
SESSION_TABLES = re.compile(r"\b(users|login_sessions)\b")


def reads_of_session_tables(app):
    """Start recording SELECTs that touch users or login_sessions; answers the list."""
    reads = []

    def record(_conn, _cursor, statement, _parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and SESSION_TABLES.search(statement):
            reads.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    return reads


def last_seen(app, user_id):
    with app.app_context():
        value = db.session.execute(
            db.select(LoginSession.last_seen).where(LoginSession.user_id == user_id)
        ).scalar_one()
        db.session.remove()
    return value


def age_sessions(app, ms):
    """Move every session's last_seen `ms` into the past (still within the idle lifetime)."""
    with app.app_context():
        db.session.execute(db.update(LoginSession).values(last_seen=LoginSession.last_seen - ms))
        db.session.commit()
        db.session.remove()


@pytest.fixture
def setup(make_app, make_friends):
    """Build (app, alice, bob, connect) for config overrides; `connect(person)` opens a socket."""
    sockets = []

    def build(**overrides):
        app = make_app(**overrides)
        alice = register(https_client(app), "alice")
        bob = register(https_client(app), "bob")
        make_friends(alice, bob)

        def connect(person):
            sio = socketio.test_client(app, flask_test_client=person.client)
            assert sio.is_connected()
            sockets.append(sio)
            return sio

        return app, alice, bob, connect

    yield build
    for sio in sockets:
        if sio.is_connected():
            sio.disconnect()


def test_events_are_answered_without_reading_users_or_sessions(setup):
    app, alice, bob, socket_client = setup(REVOCATION_INTERVAL=NO_SWEEP)
    sio, _bob_socket = socket_client(alice), socket_client(bob)
    reads = reads_of_session_tables(app)
    for i in range(10):
        assert sio.emit("typing", {"to": bob.id, "on": True}, callback=True) == {"ok": True}
        ack = sio.emit("send", text_envelope(alice, bob, f"hi {i}"), callback=True)
        assert ack["ok"] is True, ack
    assert reads == []
    assert alice.get("/api/me").status_code == 200  # the control: an HTTP request does read
    assert reads and all(SESSION_TABLES.search(s) for s in reads)


def test_the_sweep_records_socket_use_and_leaves_idle_sessions_alone(setup):
    app, alice, bob, socket_client = setup(SESSION_IDLE=8, REVOCATION_INTERVAL=NO_SWEEP)  # touch every 2 s
    active, idle = socket_client(alice), socket_client(bob)
    age_sessions(app, 3000)
    before = {alice.id: last_seen(app, alice.id), bob.id: last_seen(app, bob.id)}
    for _ in range(5):
        assert active.emit("typing", {"to": bob.id, "on": True}, callback=True) == {"ok": True}
    with app.app_context():
        assert revocation.sweep() == []  # nobody's session ended
        db.session.remove()
    assert last_seen(app, alice.id) >= before[alice.id] + 3000
    assert last_seen(app, bob.id) == before[bob.id]
    assert active.is_connected() and idle.is_connected()


def test_a_socket_in_use_outlives_the_idle_lifetime_and_an_idle_one_does_not(setup):
    app, alice, bob, socket_client = setup(SESSION_IDLE=2, REVOCATION_INTERVAL=0.2)
    active, idle = socket_client(alice), socket_client(bob)
    deadline = time.monotonic() + 3.5  # longer than the idle lifetime
    while time.monotonic() < deadline:
        assert active.emit("typing", {"to": bob.id, "on": True}, callback=True) == {"ok": True}
        time.sleep(0.2)
    if idle.is_connected():
        wait_disconnected(idle, within=1.0)
    assert not idle.is_connected()
    assert active.is_connected()
    assert active.emit("typing", {"to": bob.id, "on": False}, callback=True) == {"ok": True}
