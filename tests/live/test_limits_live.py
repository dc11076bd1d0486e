"""Limits on the real server with rate limiting on, as in production (issue 7 §4): one bucket
per account whatever its spelling, the vault's own limit, the attachment quota and read
markers bounded to real messages.

Each person talks from an address of their own in 127.0.0.0/8, so per-address limits
stay out of the way of the per-account ones under test.
"""
import itertools
from types import SimpleNamespace

import pytest
import requests
import socketio

from sendapp import crypto
from support.live_server import LiveServer
from support.messages import text_envelope
from support.people import registration_body

AUTH_LIMIT = 4
QUOTA = 4096
_addresses = (f"127.0.0.{n}" for n in itertools.count(10))


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connect from one loopback address (the server sees it as the client's address)."""

    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server with production-like limits, lowered to be reached quickly; stopped by pid."""
    live = LiveServer(tmp_path_factory.mktemp("limits-live"), env={
        "SENDAPP_RATELIMIT": "on",
        "SENDAPP_RATELIMIT_AUTH": f"{AUTH_LIMIT}/minute",
        "SENDAPP_RATELIMIT_VAULT": "2/minute",
        "SENDAPP_BLOB_QUOTA_BYTES": str(QUOTA),
    })
    live.start()
    yield live
    live.stop()


def visitor(server):
    """A requests session from a fresh loopback address, holding a CSRF token."""
    session = server.http_session()
    session.mount("https://", _FromAddress(next(_addresses)))
    token = session.get(server.url + "/api/csrf", timeout=10).json()["csrf_token"]
    session.headers["X-CSRFToken"] = token
    return session


def person(server, username):
    """Register `username` from an address of its own; answers its session and keys."""
    session = visitor(server)
    body, private, public = registration_body(username)
    response = session.post(server.url + "/api/register", json=body, timeout=10)
    assert response.status_code == 201, response.text
    data = response.json()
    session.headers["X-CSRFToken"] = data["csrf_token"]
    return SimpleNamespace(session=session, id=data["user"]["id"], username=username,
                           private_key=private, public_key=public, key_id=crypto.key_id(public))


@pytest.fixture(scope="module")
def alice_and_bob(server):
    alice, bob = person(server, "alice"), person(server, "bob")
    assert alice.session.post(server.url + "/api/friends", json={"username": "bob"},
                              timeout=10).status_code == 201
    assert bob.session.post(server.url + f"/api/friends/{alice.id}/accept",
                            timeout=10).status_code == 200
    return alice, bob


def test_every_spelling_of_an_account_shares_its_login_budget(server, alice_and_bob):
    # Each try comes from a new address: only the per-account budget can run out.
    wrong = {"auth": crypto.derive_account_secrets("alice", "not her password", 1000).auth}
    spellings = ["ａｌｉｃｅ", "ＡＬＩＣＥ", "Ａｌｉｃｅ", "ａｌice"]
    assert len(spellings) == AUTH_LIMIT
    for spelling in spellings:
        answer = visitor(server).post(server.url + "/api/login",
                                      json={"username": spelling, **wrong}, timeout=10)
        assert answer.status_code == 401, (spelling, answer.text)
    answer = visitor(server).post(server.url + "/api/login",
                                  json={"username": "alice", **wrong}, timeout=10)
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"] == "rate_limited" and answer.headers.get("Retry-After")


def test_vault_changes_have_their_own_limit(server, alice_and_bob):
    alice, _bob = alice_and_bob
    wrong = {"auth": "A" * 43, "vault": {"v": 1, "n": "A" * 16, "ct": "A" * 43}}
    answers = [alice.session.put(server.url + "/api/me/vault", json=wrong, timeout=10)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429], [a.text for a in answers]


def test_uploads_past_the_quota_are_refused(server, alice_and_bob):
    alice, bob = alice_and_bob

    def upload(size):
        return alice.session.post(server.url + f"/api/blobs?to={bob.id}", data=b"\0" * size,
                                  headers={"Content-Type": "application/octet-stream"},
                                  timeout=10)

    first = upload(QUOTA - 1000)
    assert first.status_code == 201, first.text
    second = upload(2000)
    assert second.status_code == 413 and second.json()["error"] == "quota_exceeded", second.text
    assert upload(1000).status_code == 201, "what fits in the quota still goes"


def test_read_markers_stop_at_the_newest_message(server, alice_and_bob):
    alice, bob = alice_and_bob
    clients = {}
    try:
        for who in (alice, bob):
            client = socketio.Client(http_session=who.session, reconnection=False)
            client.connect(server.url, transports=["polling"], wait_timeout=10)
            clients[who.username] = client
        envelope = text_envelope(alice, bob, "read me")
        sent = clients["alice"].call("send", envelope, timeout=10)
        assert sent["ok"], sent
        read = clients["bob"].call("read", {"friend": alice.id, "up_to": 2**31 - 1}, timeout=10)
        assert read == {"ok": True, "up_to": sent["id"]}
    finally:
        for client in clients.values():
            client.disconnect()
    listing = bob.session.get(server.url + "/api/conversations", timeout=10).json()
    marker = next(c for c in listing["conversations"] if c["friend"] == alice.id)
    assert marker["read_up_to"] == sent["id"]
    assert "Traceback" not in server.log_text()
