"""Groups in the Python client without a server: opening, re-sealing, de-dup, rosters, HTTP shapes.

Accounts are real (`Account` with in-memory keys); the server is a fake `_call`
and a fake HTTP API that lists groups and keys (PROTOCOL §9).
"""
import json
from pathlib import Path

import pytest

from sendapp import crypto
from sendapp.client import groups
from sendapp.client.account import Account, KeyChangeError, KeyPair
from sendapp.client.http import HttpApi
from sendapp.client.realtime import ClientState, RealtimeClient, RealtimeError, SendFailure
from sendapp.client.realtime.outbox import MAX_REPLACEMENTS
from sendapp.encoding import b64url_encode
from support.tamper import d, flip_b64
from support.client_fakes import FakeSio, drain, run

GID = 7
VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "group-vectors.json").read_text("utf-8"))



# --- fakes ------------------------------------------------------------------------------------
class GroupApi:
    """Keys by user, one group whose member list a test changes; no network."""

    base_url = "https://example.test"
    ca = None
    insecure = False

    def __init__(self):
        self.directory = {}  # user id → §7 key records
        self.members = []  # (user id, role), oldest first
        self.group_fetches = 0

    def user_keys(self, user_id):
        return self.directory[user_id]

    def friends(self):
        return {"friends": [], "incoming": [], "outgoing": []}

    def groups(self):
        return {"groups": [self.group(GID)] if self.members else [], "max_members": 64}

    def group(self, group_id):
        self.group_fetches += 1
        return {"id": group_id, "created": 1, "created_by": 1, "my_role": "admin",
                "members": [{"id": uid, "username": f"user{uid}", "role": role, "added": 1,
                             "added_by": 1, "key_id": self.directory[uid][-1]["id"],
                             "read_up_to": 0} for uid, role in self.members]}


def make_account(user_id, api, private=None):
    private, public = (private, crypto.public_from_private(private)) if private \
        else crypto.generate_identity()
    pair = KeyPair(crypto.key_id(public), private, public, 1)
    api.directory[user_id] = [{"id": pair.key_id, "public_key": b64url_encode(public),
                               "created": 1, "current": True}]
    return Account(api, {"id": user_id, "username": f"user{user_id}", "key_id": pair.key_id},
                   {pair.key_id: pair})


@pytest.fixture
def world():
    """alice (1, admin), bob (2), carol (3) in group 7, each with its own Account view."""
    api = GroupApi()
    alice, bob, carol = (make_account(uid, api) for uid in (1, 2, 3))
    api.members = [(1, "admin"), (2, "member"), (3, "member")]
    return api, alice, bob, carol


def delivered(envelope, member, message_id=100, sender=1):
    """The copy `member` receives (§9.5): server fields added, only its own entry."""
    entry = next(e for e in envelope["keys"] if e["to"] == member)
    return {"v": 1, "id": message_id, "from": sender, "ts": 5, "g": envelope["g"],
            "cid": envelope["cid"], "sk": envelope["sk"], "n": envelope["n"],
            "ct": envelope["ct"], "keys": [dict(entry)]}


def client_for(account, tmp_path=None):
    path = tmp_path / f"state{account.id}.json" if tmp_path else None
    client = RealtimeClient(account, outbox_path=path)
    client.sio = FakeSio()
    return client


# --- sealing and opening ---------------------------------------------------------------------
def test_every_member_and_the_sender_open_a_sealed_group_message(world):
    api, alice, bob, carol = world
    envelope = groups.seal(alice, api.group(GID), groups.text_plain("hello all"))
    assert [e["to"] for e in envelope["keys"]] == [1, 2, 3]
    assert envelope["keys"][0]["rk"] == envelope["sk"]  # the self wrap (§9.4)
    assert "to" not in envelope and "rk" not in envelope
    for account in (alice, bob, carol):
        plain = groups.open_envelope(account, delivered(envelope, account.id))
        assert plain["body"] == "hello all"


@pytest.mark.parametrize("user", [1, 2, 3])
def test_vector_group_message_opens_with_the_account_pair_keys(user):
    """The client's own pair keys (self pair included) open the shared vector (§9.8)."""
    keys = {k["user_id"]: k for k in VECTORS["keys"]}
    api = GroupApi()
    account = {uid: make_account(uid, api, d(keys[uid]["private"])) for uid in keys}[user]
    text = next(m for m in VECTORS["messages"] if m["name"] == "text")
    copy = delivered(text["envelope"], user, sender=text["from"])
    assert groups.open_envelope(account, copy) == json.loads(text["plain_json"])


def test_group_message_that_fails_to_open_is_a_visible_item_not_a_drop(world):
    api, alice, bob, _carol = world
    envelope = groups.seal(alice, api.group(GID), groups.text_plain("secret"))
    good = delivered(envelope, bob.id, message_id=100)
    tampered = dict(delivered(envelope, bob.id, message_id=101), ct=flip_b64(envelope["ct"]))
    relabelled = dict(delivered(envelope, bob.id, message_id=102), g=GID + 1)
    not_for_me = delivered(envelope, 3, message_id=103)
    client = client_for(bob)
    run(client._receive([good, tampered, relabelled, not_for_me]))
    got = drain(client)
    assert [m.id for m in got] == [100, 101, 102, 103]
    assert got[0].ok and got[0].text == "secret" and got[0].group == GID and not got[0].mine
    for message in got[1:]:
        assert message.plain is None and message.error.startswith("could not decrypt")
    assert got[2].group == GID + 1 and got[0].peer is None and got[0].recipient is None


def test_group_message_is_shown_once_by_id_and_by_sender_and_cid(world):
    api, alice, bob, _carol = world
    envelope = groups.seal(alice, api.group(GID), groups.text_plain("once"))
    client = client_for(bob)

    async def scenario():
        await client._on_message(delivered(envelope, bob.id, message_id=100))  # live
        await client._receive([delivered(envelope, bob.id, message_id=100)])  # then by sync
        await client._receive([delivered(envelope, bob.id, message_id=140)])  # same cid again
        forged = dict(delivered(envelope, bob.id, message_id=150), cid="B" * 22)
        await client._receive([forged])  # another cid, fails to open: still shown

    run(scenario())
    got = drain(client)
    assert [(m.id, m.ok) for m in got] == [(100, True), (150, False)]
    assert client.cursor == 150


def test_forged_copy_failing_to_open_does_not_hide_the_real_one(world):
    api, alice, bob, _carol = world
    envelope = groups.seal(alice, api.group(GID), groups.text_plain("real"))
    forged = dict(delivered(envelope, bob.id, message_id=100), ct=flip_b64(envelope["ct"]))
    client = client_for(bob)
    run(client._receive([forged, delivered(envelope, bob.id, message_id=101)]))
    assert [(m.id, m.ok) for m in drain(client)] == [(100, False), (101, True)]


def test_changed_key_of_a_co_member_blocks_sealing_until_confirmed(world):
    api, alice, _bob, carol = world
    groups.seal(alice, api.group(GID), groups.text_plain("pins carol's key"))
    new = make_account(3, GroupApi())  # carol's new key, listed as current by the server
    api.directory[3] = api.directory[3][:1] + [dict(new.api.directory[3][0])]
    api.directory[3][0]["current"] = False
    alice.forget_peer(3)
    with pytest.raises(KeyChangeError):
        groups.seal(alice, api.group(GID), groups.text_plain("to carol's new key?"))
    envelope = groups.seal(alice, api.group(GID), groups.text_plain("confirmed"),
                           confirm_key_change=True)
    assert envelope["keys"][2]["rk"] == new.current_key_id


# --- stale_members: seal again, same cid -------------------------------------------------------
def stale(members):
    return RealtimeError("the members changed", code="stale_members",
                         details={"members": members})


def test_stale_members_reseals_the_same_plaintext_with_the_same_cid(world, tmp_path):
    api, alice, bob, carol = world
    api.members = [(1, "admin"), (2, "member")]  # the list alice's client knows
    client = client_for(alice, tmp_path)
    dave = make_account(4, api)
    sent = []

    async def fake_call(event, data, timeout=None):
        sent.append(json.loads(json.dumps(data)))
        if len(sent) == 1:
            api.members.append((4, "member"))  # dave was added meanwhile
            raise stale([1, 2, 4])
        assert ClientState(tmp_path / "state1.json").pending == [data]  # replaced on disk
        return {"ok": True, "id": 55, "ts": 1}

    async def scenario():
        client._call = fake_call
        client._ready.set()
        return await client.send_group_text(GID, "for whoever is in", timeout=5)

    ack = run(scenario())
    assert ack["id"] == 55 and client.pending == []
    first, second = sent
    assert second["cid"] == first["cid"]
    assert [e["to"] for e in first["keys"]] == [1, 2]
    assert [e["to"] for e in second["keys"]] == [1, 2, 4]
    assert second["ct"] != first["ct"] and second["n"] != first["n"]  # fresh K and nonce
    for account in (bob, dave, alice):
        assert groups.open_envelope(account, delivered(second, account.id))["body"] == \
            "for whoever is in"
    with pytest.raises(crypto.CryptoError):
        groups.open_envelope(carol, delivered(second, bob.id))


def test_a_restarted_client_reseals_from_its_saved_envelope_without_a_plaintext(world, tmp_path):
    api, alice, _bob, carol = world
    api.members = [(1, "admin"), (2, "member")]
    envelope = groups.seal(alice, api.group(GID), groups.text_plain("saved before the crash"))
    ClientState(tmp_path / "state1.json", user_id=1, server=api.base_url).add(envelope)
    saved = (tmp_path / "state1.json").read_text()
    assert "saved before the crash" not in saved
    api.members.append((3, "member"))
    client = client_for(alice, tmp_path)  # a new process: only the state file
    sent = []

    async def fake_call(event, data, timeout=None):
        sent.append(data)
        if len(sent) == 1:
            raise stale([1, 2, 3])
        return {"ok": True, "id": 9, "ts": 1}

    async def scenario():
        client._call = fake_call
        client._epoch += 1
        await client._flush(client._epoch)

    run(scenario())
    assert [e["cid"] for e in sent] == [envelope["cid"]] * 2
    assert groups.open_envelope(carol, delivered(sent[1], 3))["body"] == "saved before the crash"
    assert client.pending == []


def test_resealed_group_message_names_the_members_it_is_wrapped_for(world):
    api, alice, _bob, _carol = world
    api.members = [(1, "admin"), (2, "member")]
    plain = groups.roster_plain(alice, api.group(GID), "Team")
    envelope = groups.seal(alice, api.group(GID), plain)
    api.members.append((3, "member"))
    again = groups.reseal(alice, envelope, api.group(GID))
    roster = groups.open_envelope(alice, delivered(again, 1))
    assert (roster["name"], roster["members"], roster["admins"]) == ("Team", [1, 2, 3], [1])


def test_stale_members_without_end_becomes_a_final_refusal(world):
    api, alice, _bob, _carol = world
    client = client_for(alice)
    calls = []

    async def fake_call(event, data, timeout=None):
        calls.append(data["cid"])
        raise stale([1, 2, 3])

    async def scenario():
        client._call = fake_call
        client._ready.set()
        with pytest.raises(SendFailure) as refused:
            await client.send_group_text(GID, "never fits", timeout=5)
        return refused.value

    assert run(scenario()).code == "stale_members"
    assert len(calls) == 1 + MAX_REPLACEMENTS and len(set(calls)) == 1
    assert client.pending == []


def test_other_refusals_are_not_resealed(world):
    api, alice, _bob, _carol = world
    client = client_for(alice)
    fetches = []

    async def fake_call(event, data, timeout=None):
        fetches.append(api.group_fetches)
        raise RealtimeError("no such group", code="not_found")

    async def scenario():
        client._call = fake_call
        client._ready.set()
        with pytest.raises(SendFailure):
            await client.send_group_text(GID, "gone", timeout=5)

    run(scenario())
    assert len(fetches) == 1 and api.group_fetches == 1


# --- events, typing, read, rosters ----------------------------------------------------------------
def test_group_event_updates_the_cached_group_and_null_drops_it(world):
    api, alice, _bob, _carol = world
    client = client_for(alice)

    async def scenario():
        await client.group(GID)
        listed = api.group(GID)
        listed["members"] = listed["members"][:2]
        await client._event_forwarder("group")({"id": GID, "change": "removed", "user": 3,
                                                "by": 1, "group": listed})
        assert [m["id"] for m in (await client.group(GID))["members"]] == [1, 2]
        await client._event_forwarder("group")({"id": GID, "change": "left", "user": 1,
                                                "by": 1, "group": None})
        assert GID not in client._groups

    fetched = api.group_fetches
    run(scenario())
    # one fetch by the client, one by the test: the event's copy was used, not fetched
    assert api.group_fetches == fetched + 2


def test_after_a_reconnect_the_groups_are_compared_and_changes_reported(world):
    api, alice, _bob, _carol = world
    events = []
    client = client_for(alice)
    client.on_event = lambda name, data: events.append((name, data))

    async def scenario():
        await client.group(GID)
        await client._compare_groups(client._epoch)  # nothing changed: nothing said
        api.members = api.members[:2]  # carol left while this client was offline
        await client._compare_groups(client._epoch)
        assert [m["id"] for m in (await client.group(GID))["members"]] == [1, 2]
        api.members = []  # and then the group is gone for alice
        await client._compare_groups(client._epoch)

    run(scenario())
    assert events == [("groups_changed", {"changed": [GID], "gone": []}),
                      ("groups_changed", {"changed": [], "gone": [GID]})]


def test_typing_and_read_name_the_group():
    client = client_for(make_account(1, GroupApi()))
    calls = []

    async def fake_call(event, data, timeout=None):
        calls.append((event, data))
        return {"ok": True, "up_to": data.get("up_to")}

    async def scenario():
        client._call = fake_call
        await client.typing_group(GID, True)
        return await client.read_group(GID, 42)

    assert run(scenario())["up_to"] == 42
    assert calls == [("typing", {"group": GID, "on": True}),
                     ("read", {"group": GID, "up_to": 42})]


def test_roster_trusts_the_first_then_only_admins(world):
    api, alice, bob, carol = world
    client = client_for(carol)
    first = groups.seal(alice, api.group(GID), groups.roster_plain(alice, api.group(GID), "One"))
    by_member = groups.seal(bob, api.group(GID), groups.roster_plain(bob, api.group(GID), "Two"))
    renamed = groups.seal(alice, api.group(GID), groups.roster_plain(alice, api.group(GID), "3"))
    run(client._receive([delivered(first, 3, 10), delivered(by_member, 3, 11, sender=2)]))
    assert client.group_name(GID) == "One" and client.rosters[GID].admins == [1]
    run(client._receive([delivered(renamed, 3, 12)]))
    assert client.group_name(GID) == "3" and client.rosters[GID].message_id == 12
    assert [m.id for m in drain(client)] == [10, 11, 12]  # the refused one is still shown


def test_member_listed_by_the_server_but_in_no_roster_is_unconfirmed(world):
    api, alice, _bob, carol = world
    api.members = [(1, "admin"), (3, "member")]
    client = client_for(carol)
    named = groups.seal(alice, api.group(GID), groups.roster_plain(alice, api.group(GID), "x"))
    run(client._receive([delivered(named, 3, 10)]))
    assert run(client.unconfirmed_members(GID)) == set()
    api.members.append((2, "member"))  # the server says bob joined; no admin said so yet
    assert run(client.group(GID, refresh=True)) and run(client.unconfirmed_members(GID)) == {2}


def test_leaving_admin_names_the_oldest_other_member_as_successor(world):
    api, alice, _bob, _carol = world
    plain = groups.roster_plain(alice, api.group(GID), "bye", leaving=True)
    assert (plain["members"], plain["admins"]) == ([2, 3], [2])


# --- HTTP shapes (§9.2) -------------------------------------------------------------------------
class Recorded:
    def __init__(self, body, status=200):
        self.status_code = status
        self._body = body
        self.content = b"" if body is None else json.dumps(body).encode()
        self.headers = {}

    def json(self):
        return self._body


@pytest.mark.parametrize("call, method, path, body, params, answer, result", [
    (lambda api: api.groups(), "GET", "/api/groups", None, None,
     {"groups": [], "max_members": 64}, {"groups": [], "max_members": 64}),
    (lambda api: api.create_group([2, 3]), "POST", "/api/groups", {"members": [2, 3]}, None,
     {"group": {"id": 7}}, {"id": 7}),
    (lambda api: api.group(7), "GET", "/api/groups/7", None, None, {"group": {"id": 7}},
     {"id": 7}),
    (lambda api: api.add_group_member(7, 4), "POST", "/api/groups/7/members", {"user": 4},
     None, {"group": {"id": 7}}, {"id": 7}),
    (lambda api: api.remove_group_member(7, 4), "DELETE", "/api/groups/7/members/4", None,
     None, None, None),
    (lambda api: api.promote_group_member(7, 2), "POST", "/api/groups/7/admins", {"user": 2},
     None, {"group": {"id": 7}}, {"id": 7}),
    (lambda api: api.group_history(7, before=90, limit=20), "GET", "/api/groups/7/messages",
     None, {"before": 90, "limit": 20}, {"messages": [], "more": False},
     {"messages": [], "more": False}),
    (lambda api: api.upload_group_blob(7, b"ct"), "POST", "/api/blobs", None, {"group": 7},
     {"blob": "b1"}, "b1"),
])
def test_group_http_calls_use_the_protocol_routes_and_shapes(
        call, method, path, body, params, answer, result):
    api = HttpApi("https://example.test")
    api.csrf_token = "token"
    seen = []

    def fake_send(verb, where, **kwargs):
        seen.append((verb, where, kwargs))
        return Recorded(answer, 204 if answer is None else 200)

    api._send = fake_send
    assert call(api) == result
    [(verb, where, kwargs)] = seen
    assert (verb, where, kwargs["json"], kwargs["params"] or None) == (method, path, body, params)
    if verb != "GET":
        assert kwargs["headers"]["X-CSRFToken"] == "token"
