"""Friends, keys, history and blobs over HTTP: two friends and a stranger."""
from pathlib import Path

import pytest

from sendapp import crypto
from sendapp.encoding import b64url_decode
from support.people import https_client
from support.messages import text_envelope


@pytest.fixture
def trio(make_user, make_friends):
    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    make_friends(alice, bob)
    return alice, bob, eve


def test_search_by_prefix_excludes_self(make_user):
    alice = make_user("alice")
    make_user("albert"), make_user("bob")
    names = [u["username"] for u in alice.get("/api/users?q=al").get_json()["users"]]
    assert names == ["albert"]
    assert alice.get("/api/users?q=").get_json()["users"] == []


def test_search_treats_wildcards_literally(make_user):
    alice = make_user("alice")
    make_user("bob")
    assert alice.get("/api/users?q=%25").get_json()["users"] == []
    assert alice.get("/api/users?q=_").get_json()["users"] == []


def test_request_accept_flow(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    response = alice.post("/api/friends", json={"username": "BOB"})
    assert response.status_code == 201 and response.get_json() == {"status": "requested"}
    assert [r["username"] for r in alice.get("/api/friends").get_json()["outgoing"]] == ["bob"]
    incoming = bob.get("/api/friends").get_json()["incoming"]
    assert [(r["id"], r["username"]) for r in incoming] == [(alice.id, "alice")]
    response = bob.post(f"/api/friends/{alice.id}/accept")
    assert response.status_code == 200
    friend = response.get_json()["friend"]
    assert friend["id"] == alice.id and friend["key_id"] == alice.key_id
    assert set(friend) == {"id", "username", "since", "online", "key_id"}
    listing = alice.get("/api/friends").get_json()
    assert [f["username"] for f in listing["friends"]] == ["bob"]
    assert listing["incoming"] == listing["outgoing"] == []


def test_mutual_request_accepts(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alice.post("/api/friends", json={"username": "bob"})
    response = bob.post("/api/friends", json={"username": "alice"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "accepted"
    assert response.get_json()["friend"]["id"] == alice.id


@pytest.mark.parametrize("username,status,code", [
    ("nobody", 404, "not_found"), ("alice", 400, "bad_request"), ("x", 400, "bad_request"),
])
def test_request_errors(make_user, username, status, code):
    alice = make_user("alice")
    response = alice.post("/api/friends", json={"username": username})
    assert response.status_code == status and response.get_json()["error"] == code


def test_repeat_request_is_conflict(trio):
    alice, bob, eve = trio
    assert alice.post("/api/friends", json={"username": "bob"}).status_code == 409
    eve.post("/api/friends", json={"username": "bob"})
    assert eve.post("/api/friends", json={"username": "bob"}).status_code == 409


def test_cannot_accept_own_request_or_missing(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alice.post("/api/friends", json={"username": "bob"})
    assert alice.post(f"/api/friends/{bob.id}/accept").status_code == 404
    assert bob.post("/api/friends/9999/accept").status_code == 404


@pytest.mark.parametrize("who", ["decline", "cancel"])
def test_decline_and_cancel(make_user, who):
    alice, bob = make_user("alice"), make_user("bob")
    alice.post("/api/friends", json={"username": "bob"})
    actor, other = (bob, alice) if who == "decline" else (alice, bob)
    assert actor.delete(f"/api/friends/{other.id}").status_code == 204
    for person in (alice, bob):
        listing = person.get("/api/friends").get_json()
        assert listing == {"friends": [], "incoming": [], "outgoing": []}


def test_unfriend_seals_the_conversation(trio):
    alice, bob, eve = trio
    assert alice.delete(f"/api/friends/{bob.id}").status_code == 204
    assert alice.get(f"/api/users/{bob.id}/keys").status_code == 403
    assert alice.get(f"/api/conversations/{bob.id}/messages").status_code == 403
    assert alice.delete(f"/api/friends/{bob.id}").status_code == 404


def test_keys_for_self_and_friend_but_not_stranger(trio):
    alice, bob, eve = trio
    keys = alice.get(f"/api/users/{bob.id}/keys").get_json()["keys"]
    assert keys == [{"id": bob.key_id, "public_key": keys[0]["public_key"],
                     "created": keys[0]["created"], "current": True}]
    assert crypto.key_id(b64url_decode(keys[0]["public_key"])) == bob.key_id
    assert alice.get(f"/api/users/{alice.id}/keys").status_code == 200
    response = eve.get(f"/api/users/{alice.id}/keys")
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    assert eve.get("/api/users/4242/keys").status_code == 404


def test_history_pages_backwards(app, trio, socket_client):
    alice, bob, eve = trio
    sio = socket_client(alice)
    ids = [sio.emit("send", text_envelope(alice, bob, str(i)), callback=True)["id"]
           for i in range(5)]
    newest = bob.get(f"/api/conversations/{alice.id}/messages?limit=2").get_json()
    assert [m["id"] for m in newest["messages"]] == ids[3:] and newest["more"] is True
    older = bob.get(f"/api/conversations/{alice.id}/messages?limit=2&before={ids[3]}").get_json()
    assert [m["id"] for m in older["messages"]] == ids[1:3]
    oldest = bob.get(f"/api/conversations/{alice.id}/messages?before={ids[1]}").get_json()
    assert [m["id"] for m in oldest["messages"]] == ids[:1] and oldest["more"] is False
    assert eve.get(f"/api/conversations/{alice.id}/messages").status_code == 403
    assert bob.get(f"/api/conversations/{alice.id}/messages?before=x").status_code == 400


def test_blob_upload_download_by_pair_only(app, trio):
    alice, bob, eve = trio
    data = bytes(range(256)) * 100
    response = alice.post(f"/api/blobs?to={bob.id}", data=data,
                          content_type="application/octet-stream")
    assert response.status_code == 201, response.get_json()
    blob = response.get_json()["blob"]
    assert len(blob) == 22
    for person in (alice, bob):
        got = person.get(f"/api/blobs/{blob}")
        assert got.status_code == 200 and got.data == data
    denied = eve.get(f"/api/blobs/{blob}")
    assert denied.status_code == 403 and denied.get_json()["error"] == "forbidden"
    assert eve.get("/api/blobs/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    stored = list(Path(app.config["BLOB_DIR"]).rglob(blob))
    assert len(stored) == 1 and stored[0].read_bytes() == data


def test_blob_upload_needs_friend_and_octet_stream(trio):
    alice, bob, eve = trio
    assert eve.post(f"/api/blobs?to={alice.id}", data=b"x",
                    content_type="application/octet-stream").status_code == 403
    assert alice.post(f"/api/blobs?to={bob.id}", data=b"x",
                      content_type="text/plain").status_code == 400
    assert alice.post("/api/blobs?to=abc", data=b"x",
                      content_type="application/octet-stream").status_code == 400
    assert alice.post(f"/api/blobs?to={bob.id}", data=b"",
                      content_type="application/octet-stream").status_code == 400


def test_blob_size_limit(make_app):
    from support.people import register

    app = make_app(MAX_BLOB_BYTES=1000)
    alice = register(https_client(app), "alice")
    bob = register(https_client(app), "bob")
    alice.post("/api/friends", json={"username": "bob"})
    bob.post(f"/api/friends/{alice.id}/accept")
    response = alice.post(f"/api/blobs?to={bob.id}", data=b"x" * 1001,
                          content_type="application/octet-stream")
    assert response.status_code == 413 and response.get_json()["error"] == "too_large"
    assert not any(p.is_file() for p in Path(app.config["BLOB_DIR"]).rglob("*"))
