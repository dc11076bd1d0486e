"""Socket.IO events (PROTOCOL §8) with Flask-SocketIO's test client: three people, who got what."""
import pytest

from sendapp.extensions import db
from sendapp.models import Message
from support.people import https_client
from support.messages import read_text, text_envelope
from support.socket_events import received


@pytest.fixture
def trio(make_user, make_friends, socket_client):
    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    make_friends(alice, bob)
    sockets = {p.username: socket_client(p) for p in (alice, bob, eve)}
    for sio in sockets.values():
        sio.get_received()
    return alice, bob, eve, sockets


def test_anonymous_socket_is_refused(app):
    from sendapp.extensions import socketio

    sio = socketio.test_client(app, flask_test_client=https_client(app))
    assert not sio.is_connected()


def test_send_stores_relays_and_acks(app, trio):
    alice, bob, eve, s = trio
    envelope = text_envelope(alice, bob, "hello bob")
    ack = s["alice"].emit("send", envelope, callback=True)
    assert ack["ok"] is True and isinstance(ack["id"], int) and isinstance(ack["ts"], int)
    got = received(s["bob"], "message")
    assert len(got) == 1 and got[0]["id"] == ack["id"] and got[0]["from"] == alice.id
    assert read_text(bob, alice, got[0]) == "hello bob"
    assert len(received(s["alice"], "message")) == 1  # sender's socket too
    assert received(s["eve"], "message") == []
    with app.app_context():
        assert db.session.get(Message, ack["id"]).ct == envelope["ct"]


def test_send_requires_friendship(trio):
    alice, bob, eve, s = trio
    ack = s["eve"].emit("send", text_envelope(eve, alice, "let me in"), callback=True)
    assert ack == {"ok": False, "error": "forbidden", "message": ack["message"]}
    assert "not_friends" in ack["message"]
    assert received(s["alice"], "message") == []


def test_send_to_self_is_bad_request(trio):
    alice, bob, eve, s = trio
    envelope = text_envelope(alice, bob, "x")
    envelope["to"] = alice.id
    ack = s["alice"].emit("send", envelope, callback=True)
    assert ack["ok"] is False and ack["error"] == "bad_request"


def test_duplicate_cid_stores_one_row_and_relays_the_stored_message_again(app, trio):
    """The process that stored a message may have died before relaying it (its sender then
    resends the cid to another process): a retried cid is relayed again, under the same id,
    which receivers de-duplicate (PROTOCOL §8)."""
    alice, bob, eve, s = trio
    envelope = text_envelope(alice, bob, "once")
    first = s["alice"].emit("send", envelope, callback=True)
    again = s["alice"].emit("send", dict(envelope), callback=True)
    assert first["id"] == again["id"]
    relayed = received(s["bob"], "message")
    assert [m["id"] for m in relayed] == [first["id"], first["id"]]
    assert relayed[0] == relayed[1]
    with app.app_context():
        assert db.session.query(Message).count() == 1


def test_same_cid_other_content_is_conflict(trio):
    alice, bob, eve, s = trio
    envelope = text_envelope(alice, bob, "one")
    s["alice"].emit("send", envelope, callback=True)
    other = text_envelope(alice, bob, "two", cid=envelope["cid"])
    ack = s["alice"].emit("send", other, callback=True)
    assert ack["ok"] is False and ack["error"] == "conflict"


def test_spoofed_from_and_unknown_fields_are_dropped(app, trio):
    alice, bob, eve, s = trio
    envelope = text_envelope(alice, bob, "hi")
    envelope.update({"from": eve.id, "id": 999, "ts": 1, "extra": "x" * 100})
    ack = s["alice"].emit("send", envelope, callback=True)
    assert ack["ok"] is True
    relayed = received(s["bob"], "message")[0]
    assert relayed["from"] == alice.id and relayed["id"] == ack["id"] != 999
    assert set(relayed) == {"v", "id", "from", "to", "cid", "sk", "rk", "n", "ct", "ts"}


def _bad(alice, bob):
    base = text_envelope(alice, bob, "x")
    cases = {
        "missing ct": ({k: v for k, v in base.items() if k != "ct"}, "bad_request"),
        "missing v": ({k: v for k, v in base.items() if k != "v"}, "bad_request"),
        "v 2": ({**base, "v": 2}, "bad_request"),
        "to as string": ({**base, "to": str(bob.id)}, "bad_request"),
        "to stranger": ({**base, "to": 10_000}, "forbidden"),
        "cid short": ({**base, "cid": "abc"}, "bad_request"),
        "cid bad b64": ({**base, "cid": "!" * 22}, "bad_request"),
        "n wrong size": ({**base, "n": "AAAA"}, "bad_request"),
        "ct bad b64": ({**base, "ct": base["ct"] + "="}, "bad_request"),
        "ct oversize": ({**base, "ct": "A" * 65_540}, "too_large"),
        "sk unknown": ({**base, "sk": "AAAAAAAAAAAA"}, "bad_request"),
        "rk of sender": ({**base, "rk": alice.key_id}, "bad_request"),
        "sk wrong type": ({**base, "sk": 12}, "bad_request"),
        "not an object": ("just a string", "bad_request"),
        "list": ([1, 2], "bad_request"),
    }
    return cases


BAD_CASES = ["missing ct", "missing v", "v 2", "to as string", "to stranger", "cid short",
             "cid bad b64", "n wrong size", "ct bad b64", "ct oversize", "sk unknown",
             "rk of sender", "sk wrong type", "not an object", "list"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_envelope_gets_specific_error_and_socket_stays_usable(app, trio, case):
    alice, bob, eve, s = trio
    payload, code = _bad(alice, bob)[case]
    ack = s["alice"].emit("send", payload, callback=True)
    assert ack["ok"] is False and ack["error"] == code, ack
    assert ack["message"]
    if case.startswith("sk unknown"):
        assert "AAAAAAAAAAAA" in ack["message"]
    good = s["alice"].emit("send", text_envelope(alice, bob, "still works"), callback=True)
    assert good["ok"] is True and s["alice"].is_connected()
    with app.app_context():
        assert db.session.query(Message).count() == 1


def test_sync_returns_missed_messages_once_in_pages(trio):
    alice, bob, eve, s = trio
    ids = [s["alice"].emit("send", text_envelope(alice, bob, f"m{i}"), callback=True)["id"]
           for i in range(7)]
    page = s["bob"].emit("sync", {"after": 0, "limit": 5}, callback=True)
    assert page["ok"] and page["more"] is True and page["last"] == ids[-1]
    rest = s["bob"].emit("sync", {"after": page["messages"][-1]["id"], "limit": 5}, callback=True)
    assert rest["more"] is False
    got = [m["id"] for m in page["messages"] + rest["messages"]]
    assert got == ids
    assert [read_text(bob, alice, m) for m in rest["messages"]] == ["m5", "m6"]
    assert s["eve"].emit("sync", {"after": 0}, callback=True) == {
        "ok": True, "messages": [], "more": False, "last": 0}


@pytest.mark.parametrize("payload", [{}, {"after": "0"}, {"after": -1}, "x", {"after": 0, "limit": 0}])
def test_sync_validates_input(trio, payload):
    ack = trio[3]["alice"].emit("sync", payload, callback=True)
    assert ack["ok"] is False and ack["error"] == "bad_request"


def test_join_only_for_friends(trio):
    alice, bob, eve, s = trio
    assert s["alice"].emit("join", {"friend": bob.id}, callback=True) == {"ok": True}
    ack = s["eve"].emit("join", {"friend": alice.id}, callback=True)
    assert ack["ok"] is False and ack["error"] == "forbidden"


def test_new_friendship_join_then_receive(make_user, make_friends, socket_client, trio):
    alice, bob, eve, s = trio
    make_friends(eve, bob)
    assert received(s["bob"], "friends") and received(s["eve"], "friends")
    assert s["eve"].emit("join", {"friend": bob.id}, callback=True)["ok"]
    s["bob"].emit("send", text_envelope(bob, eve, "welcome"), callback=True)
    assert read_text(eve, bob, received(s["eve"], "message")[0]) == "welcome"
    assert received(s["alice"], "message") == []


def test_typing_is_relayed_to_the_friend_only(trio):
    alice, bob, eve, s = trio
    assert s["alice"].emit("typing", {"to": bob.id, "on": True}, callback=True)["ok"]
    assert received(s["bob"], "typing") == [{"from": alice.id, "on": True}]
    assert received(s["eve"], "typing") == []
    ack = s["eve"].emit("typing", {"to": bob.id, "on": True}, callback=True)
    assert ack["error"] == "forbidden"


def test_read_marker_is_stored_and_relayed(trio):
    alice, bob, eve, s = trio
    ack = s["alice"].emit("send", text_envelope(alice, bob, "read me"), callback=True)
    s["alice"].get_received()
    assert s["bob"].emit("read", {"friend": alice.id, "up_to": ack["id"]}, callback=True)["ok"]
    assert received(s["alice"], "read") == [{"from": bob.id, "to": alice.id, "up_to": ack["id"]}]
    convs = bob.get("/api/conversations").get_json()["conversations"]
    assert convs == [{"friend": alice.id, "last_id": ack["id"], "last_ts": convs[0]["last_ts"],
                      "unread": 0, "read_up_to": ack["id"], "peer_read_up_to": 0}]
    assert alice.get("/api/conversations").get_json()["conversations"][0]["peer_read_up_to"] == ack["id"]


def test_unread_count(trio):
    alice, bob, eve, s = trio
    for i in range(3):
        s["alice"].emit("send", text_envelope(alice, bob, str(i)), callback=True)
    assert bob.get("/api/conversations").get_json()["conversations"][0]["unread"] == 3


def test_presence_online_then_offline(make_user, make_friends, socket_client):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    bob_socket = socket_client(bob)
    bob_socket.get_received()
    first = socket_client(alice)
    second = socket_client(alice)
    assert received(bob_socket, "presence") == [{"user": alice.id, "online": True}]
    assert bob.get("/api/friends").get_json()["friends"][0]["online"] is True
    first.disconnect()
    assert received(bob_socket, "presence") == []  # a second device is still online
    second.disconnect()
    assert received(bob_socket, "presence") == [{"user": alice.id, "online": False}]


def test_logout_disconnects_the_sessions_sockets(make_user, socket_client):
    alice = make_user("alice")
    sio = socket_client(alice)
    assert sio.is_connected()
    alice.post("/api/logout")
    assert not sio.is_connected()


def test_a_session_revoked_elsewhere_loses_its_socket_at_the_next_check(make_app, socket_client):
    """Events are answered for the user the socket authenticated as at connect (no database
    read per event); a revocation made elsewhere closes the socket at the watch's next check."""
    from sendapp.auth import revocation
    from sendapp.models import LoginSession
    from support.people import register

    app = make_app(REVOCATION_INTERVAL=60)
    alice, bob = register(https_client(app), "alice"), register(https_client(app), "bob")
    assert alice.post("/api/friends", json={"username": "bob"}).status_code == 201
    assert bob.post(f"/api/friends/{alice.id}/accept").status_code == 200
    sio = socketio_client(app, alice)
    assert sio.emit("send", text_envelope(alice, bob, "before"), callback=True)["ok"] is True
    with app.app_context():
        db.session.execute(db.delete(LoginSession).where(LoginSession.user_id == alice.id))
        db.session.commit()
        assert sio.is_connected()
        revocation.sweep()  # what the watch runs every REVOCATION_INTERVAL
    assert not sio.is_connected()


def socketio_client(app, person):
    from sendapp.extensions import socketio

    return socketio.test_client(app, flask_test_client=person.client)


def test_socket_events_are_rate_limited(make_app):
    from sendapp.extensions import socketio
    from support.people import register

    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SOCKET="5/minute")
    alice = register(https_client(app), "alice")
    sio = socketio.test_client(app, flask_test_client=alice.client)
    acks = [sio.emit("sync", {"after": 0}, callback=True) for _ in range(6)]
    assert [a["ok"] for a in acks] == [True] * 5 + [False]
    assert acks[-1]["error"] == "rate_limited"


def test_key_change_is_announced_to_friends(trio):
    from support.people import registration_body

    alice, bob, eve, s = trio
    body, _, _ = registration_body("bob")
    response = bob.put("/api/me/vault", json={"auth": body["auth"], "vault": body["vault"],
                                              "public_key": body["public_key"]})
    assert response.status_code == 200
    assert received(s["alice"], "key_changed") == [{"user": bob.id}]
    assert received(s["eve"], "key_changed") == []
