"""Group membership on PostgreSQL: the whole life of a group, and every change waiting for the
message writers' order lock (PROTOCOL §9.1; sendapp/chat/writer.py WRITER_ORDER_LOCK)."""
import threading

import psycopg2
import pytest

from sendapp.chat.writer import WRITER_ORDER_LOCK
from sendapp.config import _database_url
from sendapp.extensions import db
from sendapp.models import Group, Message, MessageKey
from support.people import https_client, register
from support.services import scratch_postgres_database

WAIT = 10  # seconds any step may take


@pytest.fixture
def pg(make_app, make_friends):
    with scratch_postgres_database() as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=_database_url(url))
        alice, bob, carol = (register(https_client(app), n) for n in ("alice", "bob", "carol"))
        make_friends(alice, bob)
        make_friends(alice, carol)
        yield app, url, alice, bob, carol
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_group_lives_and_dies_on_postgresql(pg):
    app, _url, alice, bob, carol = pg
    group = alice.post("/api/groups", json={"members": [carol.id]}).get_json()["group"]
    assert alice.post(f"/api/groups/{group['id']}/members", json={"user": bob.id}).status_code == 200
    with app.app_context():
        message = Message(sender_id=carol.id, group_id=group["id"], cid="c" * 22, sk=carol.key_id,
                          n="n" * 16, ct="x" * 64)
        db.session.add(message)
        db.session.flush()
        db.session.add(MessageKey(message_id=message.id, user_id=bob.id, rk=bob.key_id,
                                  n="n" * 16, w="w" * 64))
        db.session.commit()
    blob = bob.post(f"/api/blobs?group={group['id']}", data=b"z" * 50,
                    content_type="application/octet-stream").get_json()["blob"]
    assert alice.delete(f"/api/groups/{group['id']}/members/{alice.id}").status_code == 204
    members = bob.get(f"/api/groups/{group['id']}").get_json()["group"]["members"]
    assert [(m["id"], m["role"]) for m in members] == [(carol.id, "admin"), (bob.id, "member")]
    assert carol.delete(f"/api/groups/{group['id']}/members/{carol.id}").status_code == 204
    assert bob.get(f"/api/users/{carol.id}/keys").status_code == 200  # a wrap from carol
    assert bob.delete(f"/api/groups/{group['id']}/members/{bob.id}").status_code == 204
    assert bob.get(f"/api/blobs/{blob}").status_code == 404
    with app.app_context():
        assert db.session.get(Group, group["id"]) is None
        assert db.session.query(Message).count() == 0
    assert bob.get(f"/api/users/{carol.id}/keys").status_code == 403


def test_a_membership_change_waits_for_the_writers_lock(pg):
    app, url, alice, bob, carol = pg
    group = alice.post("/api/groups", json={"members": [bob.id]}).get_json()["group"]
    holder = psycopg2.connect(url, connect_timeout=5)
    answers = []
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_ORDER_LOCK,))
        leaving = threading.Thread(target=lambda: answers.append(
            bob.delete(f"/api/groups/{group['id']}/members/{bob.id}").status_code))
        leaving.start()
        leaving.join(1.0)
        assert leaving.is_alive() and answers == []  # waiting for the lock, not done
        holder.commit()  # a writer's transaction ends
        leaving.join(WAIT)
        assert answers == [204]
    finally:
        holder.close()
    members = alice.get(f"/api/groups/{group['id']}").get_json()["group"]["members"]
    assert [m["id"] for m in members] == [alice.id]
