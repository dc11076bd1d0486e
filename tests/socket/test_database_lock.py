"""Another connection holding the SQLite write lock: writes answer `retry` in time, reads go on.

The live twin (tests/live/test_database_lock.py) proves the event loop keeps serving.
"""
import logging
import sqlite3
import time
from contextlib import contextmanager

import pytest

from sendapp.extensions import db
from sendapp.models import Message
from support.messages import text_envelope

LOCK_WAIT = 0.3  # seconds the server waits for the lock in these tests


@pytest.fixture
def locked_app(make_app):
    return make_app(DB_LOCK_WAIT=LOCK_WAIT)


@contextmanager
def write_lock(app):
    """Hold the database's write lock from another connection, as a backup would."""
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("COMMIT")
    finally:
        other.close()


def one_line_refusals(caplog):
    """Log records about the lock; none may carry a traceback."""
    records = [r for r in caplog.records if "database is locked" in r.getMessage()]
    assert records and all(r.exc_info is None for r in records)
    return records


@pytest.fixture
def pair(locked_app):
    from sendapp.extensions import socketio
    from support.people import https_client, register

    alice, bob = register(https_client(locked_app), "alice"), register(https_client(locked_app), "bob")
    assert alice.post("/api/friends", json={"username": "bob"}).status_code == 201
    assert bob.post(f"/api/friends/{alice.id}/accept").status_code == 200
    sio = socketio.test_client(locked_app, flask_test_client=alice.client)
    yield alice, bob, sio
    sio.disconnect()


def test_send_during_a_lock_answers_retry_then_stores_once(locked_app, pair, caplog):
    alice, bob, sio = pair
    envelope = text_envelope(alice, bob, "during the backup")
    caplog.set_level(logging.WARNING)
    with write_lock(locked_app):
        started = time.monotonic()
        ack = sio.emit("send", envelope, callback=True)
        elapsed = time.monotonic() - started
        history = bob.get(f"/api/conversations/{alice.id}/messages")  # reads go on
    assert ack["ok"] is False and ack["error"] == "retry", ack
    assert 0.2 <= ack["retry_after"] <= 30  # when to come back (sendapp/load.py)
    assert LOCK_WAIT * 0.5 <= elapsed <= LOCK_WAIT + 1.0
    assert history.status_code == 200 and history.get_json()["messages"] == []
    assert len(one_line_refusals(caplog)) == 1
    assert sio.is_connected()
    stored = sio.emit("send", envelope, callback=True)
    assert stored["ok"] is True
    assert sio.emit("send", envelope, callback=True) == stored
    with locked_app.app_context():
        assert db.session.query(Message).filter_by(cid=envelope["cid"]).count() == 1


def test_http_write_during_a_lock_answers_503_retry(locked_app, pair, caplog):
    alice, bob, _sio = pair
    caplog.set_level(logging.WARNING)
    with write_lock(locked_app):
        response = alice.delete(f"/api/friends/{bob.id}")
        friends = alice.get("/api/friends")
    assert response.status_code == 503
    assert response.get_json()["error"] == "retry"
    assert response.headers["Retry-After"] == "1"
    assert friends.status_code == 200 and len(friends.get_json()["friends"]) == 1
    one_line_refusals(caplog)
    assert alice.delete(f"/api/friends/{bob.id}").status_code == 204
