"""Every path that ends a session closes its sockets (Flask-SocketIO test client, threading mode).

In-process paths close at once; a change made by another process (the CLI, another server)
is found by the socket watch within REVOCATION_INTERVAL. The real server process and the
CLI as a separate process are covered in tests/live/test_revocation_live.py.
"""
import sqlite3
import time

import pytest

from sendapp import crypto
from sendapp.auth import admin
from sendapp.extensions import db, socketio
from sendapp.models import LoginSession
from support.people import PASSWORD, https_client, login_body, register

WITHIN = 1.0  # seconds: the promise
POLL = 0.02


def wait_disconnected(sio, within=WITHIN):
    """Seconds until the test client is disconnected; fails after `within`."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if not sio.is_connected():
            return time.monotonic() - start
        time.sleep(POLL)
    pytest.fail(f"the socket is still connected after {within}s")


def second_session(app, username):
    """Log the same account in again from another 'device' (its own cookie jar)."""
    other = https_client(app)
    csrf = other.get("/api/csrf").get_json()["csrf_token"]
    answer = other.post("/api/login", json=login_body(username), headers={"X-CSRFToken": csrf})
    assert answer.status_code == 200
    return other


@pytest.mark.parametrize("action", ["disable", "reset-password", "delete"])
def test_admin_action_in_process_closes_sockets_at_once(app, make_user, socket_client, action):
    alice = make_user("alice")
    sockets = [socket_client(alice), socketio.test_client(app, flask_test_client=second_session(app, "alice"))]
    bob = socket_client(make_user("bob"))
    assert all(s.is_connected() for s in sockets)
    with app.app_context():
        {"disable": lambda: admin.set_disabled("alice", True),
         "reset-password": lambda: admin.reset_password("alice", "a new password 1"),
         "delete": lambda: admin.delete_user("alice")}[action]()
    assert not any(s.is_connected() for s in sockets)
    assert bob.is_connected()  # someone else's socket stays


def test_change_made_by_another_process_closes_sockets_within_a_second(app, make_user, socket_client, tmp_path):
    """A plain sqlite3 connection stands in for the CLI: nothing in this process is told."""
    alice = make_user("alice")
    sio = socket_client(alice)
    bob = socket_client(make_user("bob"))
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as other_process:
        other_process.execute("UPDATE users SET disabled = 1 WHERE id = ?", (alice.id,))
    assert wait_disconnected(sio) < WITHIN
    assert bob.is_connected()


def test_password_change_closes_the_other_sessions_sockets_not_the_callers(app, make_user, socket_client):
    alice = make_user("alice")
    other_device = socketio.test_client(app, flask_test_client=second_session(app, "alice"))
    own = socket_client(alice)
    secrets = crypto.derive_account_secrets("alice", PASSWORD, 1000)
    new = crypto.derive_account_secrets("alice", "another password", 1000)
    vault = crypto.encrypt_vault(new.vault_key, "alice", [crypto.vault_entry(alice.private_key, alice.public_key, 1)])
    answer = alice.put("/api/me/vault", json={"auth": secrets.auth, "new_auth": new.auth, "vault": vault})
    assert answer.status_code == 200, answer.get_json()
    assert not other_device.is_connected()
    assert own.is_connected()
    assert alice.get("/api/me").status_code == 200


def test_logout_closes_only_that_sessions_sockets(app, make_user, socket_client):
    alice = make_user("alice")
    other_device = socketio.test_client(app, flask_test_client=second_session(app, "alice"))
    own = socket_client(alice)
    assert alice.post("/api/logout").status_code == 204
    assert not own.is_connected()
    assert other_device.is_connected()
    other_device.disconnect()


def test_idle_session_ends_and_its_socket_closes(make_app):
    app = make_app(SESSION_IDLE=1)
    alice = register(https_client(app), "alice")
    sio = socketio.test_client(app, flask_test_client=alice.client)
    assert sio.is_connected()
    assert wait_disconnected(sio, within=2.5) > 0.5
    assert alice.get("/api/me").status_code == 401


def test_use_keeps_an_idle_limited_session_alive(make_app):
    app = make_app(SESSION_IDLE=2)
    alice = register(https_client(app), "alice")
    for _ in range(6):  # 3 s of use, more than the idle lifetime
        assert alice.get("/api/me").status_code == 200
        time.sleep(0.5)


def test_session_ends_after_its_absolute_lifetime_despite_use(make_app):
    app = make_app(SESSION_MAX_AGE=2)
    alice = register(https_client(app), "alice")
    sio = socketio.test_client(app, flask_test_client=alice.client)
    deadline = time.monotonic() + 4
    while alice.get("/api/me").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alice.get("/api/me").status_code == 401
    assert wait_disconnected(sio) >= 0


def test_last_seen_is_written_at_most_once_a_minute(app, make_user):
    alice = make_user("alice")
    with app.app_context():
        db.session.execute(db.update(LoginSession).values(last_seen=LoginSession.last_seen - 30_000))
        db.session.commit()
        before = db.session.execute(db.select(LoginSession.last_seen)).scalar_one()
    for _ in range(3):
        assert alice.get("/api/me").status_code == 200
    with app.app_context():
        assert db.session.execute(db.select(LoginSession.last_seen)).scalar_one() == before
        db.session.execute(db.update(LoginSession).values(last_seen=LoginSession.last_seen - 31_000))
        db.session.commit()
    assert alice.get("/api/me").status_code == 200
    with app.app_context():
        assert db.session.execute(db.select(LoginSession.last_seen)).scalar_one() > before


def test_session_cookie_uses_the_host_prefix(app):
    person = https_client(app)
    csrf = person.get("/api/csrf")
    cookie = [h for h in csrf.headers.getlist("Set-Cookie") if h.startswith("__Host-")]
    assert cookie, csrf.headers
    assert "Secure" in cookie[0] and "Path=/" in cookie[0] and "Domain" not in cookie[0]
    assert app.config["REMEMBER_COOKIE_NAME"].startswith("__Host-")
    assert app.config["REMEMBER_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_PATH"] == "/"
    assert app.config["REMEMBER_COOKIE_DOMAIN"] is None


def test_session_lifetimes_default_to_30_and_7_days_and_read_the_environment():
    from sendapp.config import Config

    defaults = Config({"SENDAPP_SECRET_KEY": "x", "SENDAPP_INSTANCE_PATH": "/tmp/unused"})
    assert (defaults.SESSION_MAX_AGE, defaults.SESSION_IDLE) == (30 * 86400, 7 * 86400)
    assert defaults.REVOCATION_INTERVAL == 0.5
    assert defaults.PERMANENT_SESSION_LIFETIME.total_seconds() == 30 * 86400
    short = Config({"SENDAPP_SECRET_KEY": "x", "SENDAPP_INSTANCE_PATH": "/tmp/unused",
                    "SENDAPP_SESSION_MAX_AGE": "60", "SENDAPP_SESSION_IDLE": "5"})
    assert (short.SESSION_MAX_AGE, short.SESSION_IDLE) == (60, 5)
    with pytest.raises(ValueError):
        Config({"SENDAPP_SECRET_KEY": "x", "SENDAPP_INSTANCE_PATH": "/tmp/unused",
                "SENDAPP_SESSION_IDLE": "0"})


def test_the_periodic_check_takes_sessions_in_turn_one_query_each(app, make_user, socket_client, monkeypatch):
    """Its cost stays flat with many sockets: one query of at most _CHUNK sessions per tick,
    and a session ended elsewhere is still found within ceil(sessions / _CHUNK) ticks."""
    from sqlalchemy import event

    from sendapp.auth import revocation

    monkeypatch.setattr(revocation, "_CHUNK", 2)
    people = [make_user(f"user{i}") for i in range(5)]
    sockets = [socket_client(person) for person in people]
    queries = []
    with app.app_context():
        engine = db.engine
        listen = lambda *args: queries.append(args[2])  # noqa: E731 - statement text
        event.listen(engine, "before_cursor_execute", listen)
        try:
            watch = revocation.watch()
            db.session.execute(db.delete(LoginSession).where(LoginSession.user_id == people[3].id))
            db.session.commit()
            queries.clear()
            closed = []
            for tick in range(3):  # 5 sessions, 2 per tick
                closed += watch.sweep(rotating=True)
            checks = [q for q in queries if "login_sessions" in q and "SELECT" in q]
            assert len(checks) == 3
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert not sockets[3].is_connected()
    assert [s.is_connected() for i, s in enumerate(sockets) if i != 3] == [True] * 4
    assert len(closed) == 1
