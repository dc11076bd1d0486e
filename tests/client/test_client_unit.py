"""Python client logic that needs no server: state file, cursor, dedup, outbox, envelopes, CLI."""
import asyncio
import json
import os
import stat

import pytest

from sendapp import crypto
from sendapp.client import __main__ as cli
from sendapp.client import pins
from sendapp.client.account import Account, AccountError, KeyChangeError, KeyPair
from sendapp.client.http import ApiFailure, HttpApi, _failure
from sendapp.client.realtime import (
    ClientState,
    RealtimeClient,
    RealtimeError,
    SeenIds,
    SendFailure,
    StateError,
)
from sendapp.client.realtime.connection import POLLING_WINDOW
from sendapp.encoding import b64url_encode
from support.client_fakes import FakeSio, drain, run



def envelope(cid="A" * 22, to=2, ct="x" * 40):
    return {"v": 1, "cid": cid, "to": to, "sk": "s" * 12, "rk": "r" * 12, "n": "n" * 16,
            "ct": ct}


# --- fakes ----------------------------------------------------------------------------------
class FakeApi:
    """Just enough of HttpApi for Account and RealtimeClient: keys, friends, no network."""

    base_url = "https://example.test"
    ca = None
    insecure = False

    def __init__(self, directory=None):
        self.directory = directory or {}  # user id → list of §7 key records
        self.key_fetches = 0

    def user_keys(self, user_id):
        self.key_fetches += 1
        return self.directory[user_id]

    def friends(self):
        return {"friends": [], "incoming": [], "outgoing": []}


def make_account(user_id, api):
    private, public = crypto.generate_identity()
    pair = KeyPair(crypto.key_id(public), private, public, 1)
    api.directory[user_id] = [{"id": pair.key_id, "public_key": b64url_encode(public),
                               "created": 1, "current": True}]
    user = {"id": user_id, "username": f"user{user_id}", "key_id": pair.key_id}
    return Account(api, user, {pair.key_id: pair})


class FakeAccount:
    """Decrypts `{"body": …}` out of the ct field; ct "bad" fails like a tampered message."""

    api = FakeApi()
    id = 1

    def peer_of(self, env):
        return env["to"] if env["from"] == self.id else env["from"]

    def decrypt(self, env):
        if env["ct"] == "bad":
            raise crypto.CryptoError("decryption failed")
        return {"t": "text", "body": env["ct"]}

    def forget_peer(self, user_id):
        pass


def wire(message_id, sender=2, recipient=1, body=None):
    return {"v": 1, "id": message_id, "from": sender, "to": recipient, "cid": f"c{message_id}",
            "sk": "s" * 12, "rk": "r" * 12, "n": "n", "ct": body or f"m{message_id}",
            "ts": 1000 + message_id}


def live_client(tmp_path=None, **options):
    path = tmp_path / "state.json" if tmp_path else None
    client = RealtimeClient(FakeAccount(), outbox_path=path, **options)
    client.sio = FakeSio()
    return client


# --- state file: outbox + cursor --------------------------------------------------------------
def test_outbox_file_round_trip_keeps_order_and_cursor(tmp_path):
    path = tmp_path / "state.json"
    state = ClientState(path, user_id=1, server="https://example.test")
    for i in range(3):
        state.add(envelope(cid=f"{i}" * 22))
    state.advance(41)
    state.remove("1" * 22)
    reloaded = ClientState(path, user_id=1, server="https://example.test")
    assert [e["cid"] for e in reloaded.pending] == ["0" * 22, "2" * 22]
    assert reloaded.pending[0] == envelope(cid="0" * 22)
    assert reloaded.cursor == 41


def test_outbox_entry_is_on_disk_before_anything_is_sent(tmp_path):
    path = tmp_path / "state.json"
    ClientState(path, user_id=1).add(envelope())
    assert json.loads(path.read_text())["outbox"] == [envelope()]


def test_state_file_is_private_and_written_atomically(tmp_path):
    path = tmp_path / "state.json"
    state = ClientState(path, user_id=1)
    state.add(envelope())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["state.json"]  # no temp file left behind


def test_state_file_of_another_account_is_refused(tmp_path):
    path = tmp_path / "state.json"
    ClientState(path, user_id=1, server="https://a.test").add(envelope())
    with pytest.raises(StateError, match="user"):
        ClientState(path, user_id=2, server="https://a.test")
    with pytest.raises(StateError, match="server"):
        ClientState(path, user_id=1, server="https://b.test")


@pytest.mark.parametrize("content", ["", "{", "[]", '{"v": 2}', '{"v": 1, "cursor": -1}',
                                     '{"v": 1, "outbox": [1]}', '{"v": 1, "cursor": true}'])
def test_damaged_state_file_is_refused(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StateError):
        ClientState(path, user_id=1)


def test_state_without_path_stays_in_memory(tmp_path):
    state = ClientState(None, user_id=1)
    state.add(envelope())
    assert len(state) == 1 and envelope()["cid"] in state
    assert list(tmp_path.iterdir()) == []


# --- cursor and dedup -------------------------------------------------------------------------
def test_cursor_only_moves_forward():
    state = ClientState()
    assert state.advance(5) and state.cursor == 5
    assert not state.advance(3) and state.cursor == 5
    assert not state.advance(5)
    assert not state.advance(True) and not state.advance("9") and not state.advance(None)
    assert state.cursor == 5


def test_seen_ids_report_duplicates_and_stay_bounded():
    seen = SeenIds(capacity=3)
    assert seen.add(1) and not seen.add(1)
    for i in (2, 3, 4):
        seen.add(i)
    assert len(seen) == 3 and 1 not in seen and 4 in seen


def test_live_and_synced_copies_are_delivered_once():
    client = live_client()

    async def scenario():
        await client._receive([wire(1), wire(2)])
        await client._receive([wire(2), wire(1), wire(3)])

    run(scenario())
    assert [m.id for m in drain(client)] == [1, 2, 3]
    assert client.cursor == 3


def test_undecryptable_message_is_delivered_with_an_error_not_dropped():
    client = live_client()
    run(client._receive([wire(7, body="bad"), wire(8)]))
    bad, good = drain(client)
    assert bad.id == 7 and not bad.ok and "could not decrypt" in bad.error
    assert good.text == "m8" and good.peer == 2 and not good.mine
    assert client.cursor == 8


def test_sync_pages_from_its_own_position_and_holds_live_messages(tmp_path):
    """A live id arriving mid-sync must not make the next page skip older messages."""
    client = live_client(tmp_path)
    calls = []

    async def fake_call(event, data, timeout=None):
        calls.append((event, dict(data)))
        if data["after"] == 0:
            await client._on_message(wire(500))  # live, while the sync pages
            return {"ok": True, "messages": [wire(1), wire(2)], "more": True, "last": 500}
        if data["after"] == 2:
            return {"ok": True, "messages": [wire(3), wire(500)], "more": False, "last": 500}
        raise AssertionError(f"unexpected sync after {data['after']}")

    client._call = fake_call
    client._syncing = True  # as the connect handler sets it
    run(client._catch_up(client._epoch))
    assert [c[1]["after"] for c in calls] == [0, 2]
    assert [m.id for m in drain(client)] == [1, 2, 3, 500]
    assert client.cursor == 500
    assert ClientState(tmp_path / "state.json", user_id=1).cursor == 500


def test_a_live_message_before_the_connect_handler_does_not_skip_what_the_sync_brings(tmp_path):
    """After a lost connection, the new socket's first live message can be handled before
    `_on_connect`; it must be held, or the cursor jumps over what was stored meanwhile."""
    client = live_client(tmp_path)
    synced_after = []

    async def fake_call(event, data, timeout=None):
        synced_after.append(data["after"])
        return {"ok": True, "messages": [wire(6), wire(7)], "more": False, "last": 8}

    async def scenario():
        await client._receive([wire(5)], live=True)
        await client._on_disconnect("transport error")
        await client._on_message(wire(8))  # the new socket's first message, before the handler
        assert client.cursor == 5
        client._call = fake_call
        await client._catch_up(client._epoch)

    run(scenario())
    assert synced_after == [5]
    assert [m.id for m in drain(client)] == [5, 6, 7, 8]
    assert client.cursor == 8


def test_failed_sync_keeps_the_cursor_below_unsynced_messages(tmp_path):
    """Live messages still show during a manual sync, but only a finished sync moves past them."""
    client = live_client(tmp_path)

    async def fake_call(event, data, timeout=None):
        if data["after"] == 0:
            await client._on_message(wire(900))  # not held: no post-connect sync is running
            return {"ok": True, "messages": [wire(1)], "more": True, "last": 900}
        raise RealtimeError("no answer to sync in time", code="timeout")

    async def scenario():
        client._call = fake_call
        with pytest.raises(Exception, match="in time"):
            await client.sync()
        assert client.cursor == 1  # not 900: messages 2..899 were never synced
        await client._on_message(wire(901))
        assert client.cursor == 1

        async def good_call(event, data, timeout=None):
            return {"ok": True, "messages": [wire(2)], "more": False, "last": 901}

        client._call = good_call
        await client.sync()

    run(scenario())
    assert [m.id for m in drain(client)] == [900, 1, 901, 2]
    assert client.cursor == 901
    assert ClientState(tmp_path / "state.json", user_id=1).cursor == 901


def test_messages_marked_seen_still_move_the_cursor():
    client = live_client()
    client.mark_seen([1, 2])
    run(client._receive([wire(1), wire(2), wire(3)]))
    assert [m.id for m in drain(client)] == [3]
    assert client.cursor == 3


def test_new_device_can_start_at_the_latest_message():
    client = live_client(start_at="latest")
    afters = []

    async def fake_call(event, data, timeout=None):
        afters.append((data["after"], data.get("limit")))
        if data.get("limit") == 1:
            return {"ok": True, "messages": [wire(1)], "more": True, "last": 90}
        return {"ok": True, "messages": [], "more": False, "last": 90}

    client._call = fake_call
    client._syncing = True
    run(client._catch_up(client._epoch))
    assert afters == [(0, 1), (90, 200)]
    assert client.cursor == 90 and drain(client) == []


# --- outbox sending ------------------------------------------------------------------------------
def test_outbox_is_resent_in_order_and_emptied_by_acks(tmp_path):
    client = live_client(tmp_path)
    for i in range(3):
        client.state.add(envelope(cid=f"{i}" * 22))
    sent = []

    async def fake_call(event, data, timeout=None):
        assert event == "send"
        sent.append(data["cid"])
        return {"ok": True, "id": 10 + len(sent), "ts": 1}

    async def scenario():
        client._call = fake_call
        waiter = client.wait_acked("1" * 22, timeout=5)
        client._epoch += 1
        flushing = asyncio.ensure_future(client._flush(client._epoch))
        ack = await waiter
        await flushing
        return ack

    ack = run(scenario())
    assert sent == ["0" * 22, "1" * 22, "2" * 22]
    assert ack == {"ok": True, "id": 12, "ts": 1}
    assert client.pending == [] and ClientState(tmp_path / "state.json", user_id=1).pending == []


def test_ack_can_be_awaited_after_it_arrived_and_unknown_cids_are_refused():
    client = live_client()

    async def fake_call(event, data, timeout=None):
        return {"ok": True, "id": 77, "ts": 1}

    async def scenario():
        client._call = fake_call
        client._ready.set()
        cid = await client.queue_envelope(envelope())
        while client.pending:
            await asyncio.sleep(0.01)
        assert client._waiters == {}  # settled futures are not kept
        assert (await client.wait_acked(cid, timeout=1))["id"] == 77
        with pytest.raises(ValueError):
            await client.wait_acked("Z" * 22, timeout=1)

    run(scenario())


def test_refused_envelope_leaves_the_outbox_and_fails_its_sender():
    client = live_client()

    async def fake_call(event, data, timeout=None):
        raise RealtimeError("not_friends: you can only do this with a friend", code="forbidden")

    async def scenario():
        client._call = fake_call
        client._ready.set()
        with pytest.raises(SendFailure) as failure:
            await client.send_envelope(envelope(), timeout=5)
        return failure.value

    failure = run(scenario())
    assert failure.code == "forbidden" and client.pending == []


@pytest.mark.parametrize("code", ["disconnected", "timeout", "unauthorized"])
def test_unanswered_envelope_stays_queued(code):
    client = live_client()

    async def fake_call(event, data, timeout=None):
        raise RealtimeError("no", code=code)

    async def scenario():
        client._call = fake_call
        await client._send_one(envelope())

    client.state.add(envelope())
    run(scenario())
    assert [e["cid"] for e in client.pending] == [envelope()["cid"]]


def test_send_waits_in_the_outbox_while_not_connected():
    client = live_client()
    client.sio = None

    async def scenario():
        cid = await client.queue_envelope(envelope())
        with pytest.raises(asyncio.TimeoutError):
            await client.wait_acked(cid, timeout=0.05)

    run(scenario())
    assert len(client.pending) == 1


class PollingSio(FakeSio):
    def transport(self):
        return "polling"


@pytest.mark.parametrize("sio, most", [(PollingSio(), POLLING_WINDOW), (FakeSio(), 20)])
def test_long_polling_keeps_a_bounded_number_of_sends_unacknowledged(sio, most):
    """Long-polling batches queued packets; the server's edge refuses a POST of more than 16."""
    client = live_client()
    client.sio = sio
    in_flight, peak, release = [0], [0], asyncio.Event()

    async def fake_call(event, data, timeout=None):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await release.wait()
        in_flight[0] -= 1
        return {"ok": True, "id": 1, "ts": 1}

    async def scenario():
        client._call = fake_call
        client._ready.set()
        for i in range(20):
            await client.queue_envelope(envelope(cid=f"{i:02d}" * 11))
        await asyncio.sleep(0.05)
        release.set()
        await client.flush(timeout=5)

    run(scenario())
    assert peak[0] == most and client.pending == []


class EmittingSio(FakeSio):
    """Records emits; the test answers or drops the connection."""

    def __init__(self):
        self.namespaces = {"/": "sid"}
        self.callbacks = []

    async def emit(self, event, data=None, namespace=None, callback=None):
        self.callbacks.append(callback)


def test_call_returns_the_ack_and_raises_refusals():
    client = live_client()
    client.sio = sio = EmittingSio()

    async def scenario():
        call = asyncio.ensure_future(client._call("join", {"friend": 2}))
        await asyncio.sleep(0.01)
        sio.callbacks[-1]({"ok": True})
        assert await call == {"ok": True}
        call = asyncio.ensure_future(client._call("join", {"friend": 3}))
        await asyncio.sleep(0.01)
        sio.callbacks[-1]({"ok": False, "error": "forbidden", "message": "not_friends"})
        with pytest.raises(RealtimeError) as refused:
            await call
        assert refused.value.code == "forbidden"

    run(scenario())


def test_call_gives_up_as_soon_as_the_connection_drops():
    """A dead connection's ack never comes: waiting the full timeout would stall the resync."""
    client = live_client(ack_timeout=30)
    client.sio = sio = EmittingSio()

    async def scenario():
        call = asyncio.ensure_future(client._call("sync", {"after": 0}))
        await asyncio.sleep(0.05)
        sio.namespaces.clear()  # what python-socketio does when the transport drops
        with pytest.raises(RealtimeError) as dropped:
            await asyncio.wait_for(call, 2)
        assert dropped.value.code == "disconnected"

    run(scenario())


def test_every_long_polling_request_carries_the_session_cookie():
    """python-engineio sends the connect headers with the handshake only; the HTTP session's
    jar then carries the cookie on every poll, as a cookie-sticky proxy needs (deploy/nginx.conf)."""
    import aiohttp
    from yarl import URL

    class CookieAccount(FakeAccount):
        api = HttpApi("https://127.0.0.1:8443")

    CookieAccount.api.session.cookies.set("__Host-sendapp_session", "payload.ts.sig")

    async def scenario():
        client = RealtimeClient(CookieAccount())
        client._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            headers = client._handshake_headers()
            jar = client._http.cookie_jar.filter_cookies(
                URL("https://127.0.0.1:8443/socket.io/?EIO=4&transport=polling&sid=x"))
            return headers, {name: morsel.value for name, morsel in jar.items()}
        finally:
            await client._http.close()

    headers, polled = run(scenario())
    assert headers == {"Cookie": "__Host-sendapp_session=payload.ts.sig"}
    assert polled == {"__Host-sendapp_session": "payload.ts.sig"}


# --- account: envelopes between two in-memory accounts --------------------------------------------
def test_envelopes_round_trip_between_two_accounts_and_pair_keys_are_cached():
    api = FakeApi()
    alice, bob = make_account(3, api), make_account(9, api)
    env = alice.encrypt_text(9, "hello bob")
    wire_env = dict(env, id=1, ts=5, **{"from": 3})
    assert bob.decrypt(wire_env)["body"] == "hello bob"
    assert alice.decrypt(wire_env)["body"] == "hello bob"  # my own sent message
    fetches = api.key_fetches
    reply = dict(bob.encrypt_text(3, "hi alice"), id=2, ts=6, **{"from": 9})
    assert alice.decrypt(reply)["body"] == "hi alice"
    assert api.key_fetches == fetches  # alice already had bob's key and the pair key
    assert alice.safety_number(9) == bob.safety_number(3)


def test_relabelled_envelope_fails_to_decrypt():
    api = FakeApi()
    alice, bob = make_account(3, api), make_account(9, api)
    carol = make_account(5, api)
    wire_env = dict(alice.encrypt_text(9, "for bob"), id=1, ts=5, **{"from": 3})
    with pytest.raises(crypto.CryptoError):
        carol.decrypt(wire_env)  # not addressed to carol
    with pytest.raises(crypto.CryptoError):
        bob.decrypt(dict(wire_env, cid=crypto.new_cid()))


def test_server_key_with_a_wrong_id_is_ignored():
    api = FakeApi()
    alice, bob = make_account(3, api), make_account(9, api)
    _, other_public = crypto.generate_identity()
    api.directory[9][0]["public_key"] = b64url_encode(other_public)  # swapped by the server
    with pytest.raises(KeyChangeError, match="does not match its id"):
        alice.encrypt_text(9, "hello")
    assert alice.key_warning(9)["rejected"] == {bob.current_key_id}
    with pytest.raises(KeyChangeError):
        alice.encrypt_text(9, "hello", confirm_key_change=True)  # no confirmation unlocks a bad key


# --- key pinning (§3, §6) ---------------------------------------------------------------------------
def test_pins_keep_a_key_only_when_its_id_is_its_hash():
    _, public = crypto.generate_identity()
    _, other = crypto.generate_identity()
    kid = crypto.key_id(public)
    assert pins.verified_key({"id": kid, "public_key": b64url_encode(public)}) == (kid, public)
    assert pins.verified_key({"id": kid, "public_key": b64url_encode(other)}) is None
    assert pins.verified_key({"id": kid, "public_key": "short"}) is None
    assert pins.verified_key({"id": 5, "public_key": b64url_encode(public)}) is None
    assert pins.verified_key(None) is None


def test_pins_judge_and_vault_field_round_trip():
    assert pins.judge(None, "A" * 12) == pins.FIRST_USE
    assert pins.judge({"A" * 12}, "A" * 12) == pins.ACCEPTED
    assert pins.judge({"A" * 12}, "B" * 12) == pins.CHANGED
    peers = pins.read_peers({"7": ["B" * 12, "A" * 12, 3, "short"], "x": ["A" * 12], "8": "no"})
    assert peers == {7: {"A" * 12, "B" * 12}}
    assert pins.write_peers(peers) == {"7": ["A" * 12, "B" * 12]}
    assert pins.read_peers(None) == {}  # an older vault has no peers
    assert pins.merge_peers(peers, {7: {"C" * 12}, 9: {"D" * 12}}) == {
        7: {"A" * 12, "B" * 12, "C" * 12}, 9: {"D" * 12}}


class VaultApi(FakeApi):
    """FakeApi that also keeps the vault a client writes."""

    def __init__(self, directory=None):
        super().__init__(directory)
        self.vaults = []

    def put_vault(self, auth, vault, public_key=None, new_auth=None, base=None):
        self.vaults.append((auth, vault))
        return {}


def account_with_vault(user_id, api, extra=None):
    """An account as after login: its secrets and the vault's other fields (e.g. peers)."""
    plain = make_account(user_id, api)
    secrets = crypto.derive_account_secrets(plain.username, "password 123", 1000)
    return Account(api, plain.user, plain.key_pairs, secrets, extra), secrets


def test_changed_key_warns_blocks_sending_until_confirmed_and_accept_saves_it_in_the_vault():
    api = VaultApi()
    bob = make_account(9, api)
    alice, secrets = account_with_vault(3, api, {"future": "kept"})
    alice.encrypt_text(9, "first contact")  # trusted on first use, saved in the vault
    _, vault = api.vaults[-1]
    plain = crypto.decrypt_vault(secrets.vault_key, alice.username, vault)
    assert plain["peers"] == {"9": [bob.current_key_id]} and plain["future"] == "kept"
    assert len(plain["keys"]) == 1
    private, public = crypto.generate_identity()
    new_kid = crypto.key_id(public)
    api.directory[9] = [{**api.directory[9][0], "current": False},
                        {"id": new_kid, "public_key": b64url_encode(public), "current": True}]
    alice.forget_peer(9)
    with pytest.raises(KeyChangeError, match="changed"):
        alice.encrypt_text(9, "to the new key?")
    assert alice.key_warning(9)["pending"] == {new_kid}
    assert alice.encrypt_text(9, "yes, confirmed", confirm_key_change=True)["rk"] == new_kid
    assert alice.accept_keys(9) == {new_kid}
    assert alice.key_warning(9) is None
    alice.encrypt_text(9, "accepted now")
    plain = crypto.decrypt_vault(secrets.vault_key, alice.username, api.vaults[-1][1])
    assert plain["peers"] == {"9": sorted([bob.current_key_id, new_kid])}
    del private


def test_a_message_under_a_key_not_accepted_is_unverified_and_warns():
    api = VaultApi()
    bob = make_account(9, api)
    alice, _ = account_with_vault(3, api)
    genuine = bob.encrypt_text(3, "from the real bob")
    # The server adds a key for bob (its id is its hash) and a message "from" bob under it.
    private, public = crypto.generate_identity()
    kid = crypto.key_id(public)
    api.directory[9].append({"id": kid, "public_key": b64url_encode(public), "current": False})
    own = alice.key_pairs[alice.current_key_id]
    key = crypto.pair_key(private, own.public, 3, 9, own.public, public)
    forged = crypto.encrypt_message(key, 9, 3, kid, own.key_id, {"t": "text", "body": "forged"})
    for env in (genuine, forged):
        env.update({"from": 9, "id": 1})
    assert alice.decrypt(forged)["body"] == "forged"
    assert alice.is_unverified(forged) is True
    assert alice.is_unverified(genuine) is False
    assert alice.key_warning(9)["pending"] == {kid}
    with pytest.raises(KeyChangeError):
        alice.encrypt_text(9, "hello")
    alice.accept_keys(9)
    assert alice.is_unverified(forged) is False


# --- http helpers ---------------------------------------------------------------------------------
def test_http_api_requires_https():
    with pytest.raises(ValueError):
        HttpApi("http://localhost:8443")
    assert HttpApi("https://localhost:8443/").base_url == "https://localhost:8443"


def test_error_answer_becomes_api_failure():
    class Response:
        status_code = 409
        reason = "CONFLICT"
        headers = {}

        def json(self):
            return {"error": "conflict", "message": "that username is taken"}

    failure = _failure(Response())
    assert (failure.code, failure.message, failure.status) == (
        "conflict", "that username is taken", 409)


def test_unreachable_server_is_a_clear_api_failure():
    api = HttpApi("https://127.0.0.1:9", insecure=True, timeout=5)
    with pytest.raises(ApiFailure) as failure:
        api.prelogin("alice")
    assert failure.value.code == "network" and failure.value.status is None


# --- command line ---------------------------------------------------------------------------------
def test_cli_neutralises_terminal_control_characters():
    assert cli.safe("hi\x1b[2Jthere\x07") == "hi\\u001b[2Jthere\\u0007"
    assert cli.safe("two\nlines\tok") == "two\nlines\tok"


def test_cli_prints_text_file_and_undecryptable_lines():
    assert cli.message_line(4, None, "bob", {"t": "text", "body": "yo"}) == "#4 ? bob: yo"
    assert "[file] a.txt (3 bytes" in cli.message_line(5, None, "bob", {
        "t": "file", "name": "a.txt", "size": 3, "mime": "text/plain"})
    assert cli.message_line(6, None, "bob", None, "could not decrypt: x").endswith(
        "[could not decrypt: x]")


def test_cli_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--user", "alice", "frobnicate"])
    assert exit_.value.code == cli.EXIT_USAGE


def test_cli_unreachable_server_exits_3_without_traceback(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("password123\n"))
    code = cli.main(["--server", "https://127.0.0.1:9", "--insecure", "--user", "alice",
                     "--password-stdin", "friends"])
    captured = capsys.readouterr()
    assert code == cli.EXIT_UNREACHABLE
    assert captured.err.startswith("error: cannot reach") and "Traceback" not in captured.err


# --- KDF floor (PROTOCOL §2) ------------------------------------------------------------------------
class CheapKdfApi:
    """A server that announces `iterations` and records whether a login was attempted."""

    def __init__(self, iterations):
        self.iterations = iterations
        self.logins = []

    def prelogin(self, username):
        return {"kdf": "pbkdf2-sha256", "iterations": self.iterations}

    def login(self, username, auth):
        self.logins.append(username)
        raise ApiFailure("unauthorized", "wrong username or password", 401)

    def register(self, body):
        self.logins.append(body["username"])
        raise ApiFailure("conflict", "that username is taken", 409)


@pytest.mark.parametrize("iterations", [1, 1000, 99_999])
def test_client_refuses_a_server_announcing_too_few_kdf_iterations(iterations):
    api = CheapKdfApi(iterations)
    with pytest.raises(AccountError, match="fewer than the 100000"):
        Account.login(api, "alice", "correct horse battery staple")
    with pytest.raises(AccountError, match="fewer than the 100000"):
        Account.register(api, "alice", "correct horse battery staple")
    assert api.logins == []  # nothing derived from the password was sent


def test_only_the_caller_can_lower_the_kdf_floor():
    api = CheapKdfApi(1000)
    with pytest.raises(ApiFailure):  # it derived and asked the server
        Account.login(api, "alice", "correct horse battery staple", min_iterations=1000)
    assert api.logins == ["alice"]


@pytest.mark.parametrize("attempt, retry_after, expected", [
    (1, 2.5, 2.5),  # the server's word
    (1, None, 1.0), (3, None, 4.0), (9, None, 10.0),  # else a backoff, capped
    (1, 0, 1.0), (1, -3, 1.0), (1, 3600, 1.0), (1, "2", 1.0), (1, True, 1.0),  # not believed
])
def test_a_refused_send_waits_what_the_server_says_within_bounds(attempt, retry_after, expected):
    from sendapp.client.realtime.outbox import retry_delay
    assert retry_delay(attempt, retry_after) == expected


# --- account: two devices writing the vault -------------------------------------------------------
class VaultServer(FakeApi):
    """PUT /api/me/vault as the server does it: with `base`, only over that very vault."""

    def __init__(self, vault):
        super().__init__()
        self.vault = vault

    def put_vault(self, auth, vault, public_key=None, new_auth=None, base=None):
        if base is not None and base != self.vault:
            raise ApiFailure("conflict", "changed on another device", 409, details={"vault": self.vault})
        self.vault = vault
        return {}


def two_devices(secrets, pair):
    from sendapp.client.account import _vault_for

    server = VaultServer(_vault_for(secrets, "alice", [pair]))
    user = {"id": 3, "username": "alice", "key_id": pair.key_id}
    return server, [Account(server, user, {pair.key_id: pair}, secrets, {}, server.vault) for _ in range(2)]


def test_keys_accepted_on_two_devices_from_one_copy_of_the_vault_are_both_kept():
    secrets = crypto.derive_account_secrets("alice", "correct horse battery", 1000)
    private, public = crypto.generate_identity()
    server, (phone, laptop) = two_devices(secrets, KeyPair(crypto.key_id(public), private, public, 1))
    phone.accepted[7] = {"AAAAAAAAAAAA"}
    phone._save_accepted(required=True)
    laptop.accepted[8] = {"BBBBBBBBBBBB"}
    laptop._save_accepted(required=True)  # refused once (stale copy), merged, written again
    stored = crypto.decrypt_vault(secrets.vault_key, "alice", server.vault)
    assert pins.read_peers(stored["peers"]) == {7: {"AAAAAAAAAAAA"}, 8: {"BBBBBBBBBBBB"}}
    assert laptop.accepted == {7: {"AAAAAAAAAAAA"}, 8: {"BBBBBBBBBBBB"}}


def test_a_vault_with_other_keys_from_another_device_asks_for_a_new_login():
    secrets = crypto.derive_account_secrets("alice", "correct horse battery", 1000)
    private, public = crypto.generate_identity()
    pair = KeyPair(crypto.key_id(public), private, public, 1)
    server, (phone, laptop) = two_devices(secrets, pair)
    other_private, other_public = crypto.generate_identity()
    server.vault = crypto.encrypt_vault(secrets.vault_key, "alice", [
        crypto.vault_entry(other_private, other_public, 2)])  # reset elsewhere: a new key
    laptop.accepted[8] = {"BBBBBBBBBBBB"}
    with pytest.raises(AccountError, match="keys changed on another device"):
        laptop._save_accepted(required=True)
    assert crypto.decrypt_vault(secrets.vault_key, "alice", server.vault)["keys"][0]["x"] == b64url_encode(other_public)
