"""Group messages over Socket.IO (PROTOCOL §9.5): three members and a stranger, who got what.

alice (admin), bob and carol are in one group; eve is a friend of alice but no member;
dave is a friend of alice who joins later in some tests.
"""
import pytest

from sendapp.extensions import db
from sendapp.models import GroupMember, Message, MessageKey
from support.group_messages import (
    add_member, add_old_key, delivered_to, entry, group_envelope, make_group, remove_member)
from support.messages import text_envelope
from support.socket_events import received


@pytest.fixture
def people(make_user, make_friends):
    alice, bob, carol, eve = (make_user(n) for n in ("alice", "bob", "carol", "eve"))
    make_friends(alice, bob)
    make_friends(alice, carol)
    make_friends(alice, eve)
    return alice, bob, carol, eve


@pytest.fixture
def group(app, people, socket_client):
    """(group id, alice, bob, carol, eve, sockets by username) with every inbox emptied."""
    alice, bob, carol, eve = people
    group_id = make_group(app, alice, bob, carol)
    sockets = {p.username: socket_client(p) for p in people}
    for sio in sockets.values():
        sio.get_received()
    return group_id, alice, bob, carol, eve, sockets


def send(sio, envelope):
    return sio.emit("send", envelope, callback=True)


def stored_count(app):
    with app.app_context():
        return (db.session.query(Message).count(), db.session.query(MessageKey).count())


def sync(sio, after=0, limit=None):
    data = {"after": after} if limit is None else {"after": after, "limit": limit}
    ack = sio.emit("sync", data, callback=True)
    assert ack["ok"] is True, ack
    return ack


# --- storing and delivery -------------------------------------------------------------------

def test_group_message_is_stored_and_each_member_gets_only_its_own_entry(app, group):
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    ack = send(s["alice"], envelope)
    assert ack == {"ok": True, "id": ack["id"], "ts": ack["ts"]}
    for person in (alice, bob, carol):  # the sending socket included
        got = received(s[person.username], "message")
        assert got == [delivered_to(envelope, person, ack, alice)], person.username
    assert received(s["eve"], "message") == []
    with app.app_context():
        message = db.session.get(Message, ack["id"])
        assert (message.group_id, message.recipient_id, message.rk) == (group_id, None, None)
        wraps = {k.user_id: (k.rk, k.n, k.w) for k in db.session.query(MessageKey)}
    assert wraps == {e["to"]: (e["rk"], e["n"], e["w"]) for e in envelope["keys"]}


def test_unknown_fields_in_the_envelope_and_its_entries_are_dropped(group):
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    clean = {**envelope, "keys": [dict(e) for e in envelope["keys"]]}
    envelope.update({"from": eve.id, "id": 999, "ts": 1, "extra": "x" * 100})
    for item in envelope["keys"]:
        item["note"] = "dropped"
    ack = send(s["alice"], envelope)
    assert ack["ok"] is True, ack
    assert received(s["bob"], "message") == [delivered_to(clean, bob, ack, alice)]


def test_group_ids_share_the_sequence_of_pair_messages(group):
    group_id, alice, bob, carol, eve, s = group
    first = send(s["alice"], text_envelope(alice, bob, "pair"))
    second = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    third = send(s["alice"], text_envelope(alice, bob, "pair again"))
    assert first["id"] < second["id"] < third["id"]


# --- §9.5 step 1: shape ---------------------------------------------------------------------

def _bad_shapes(alice, bob, carol, group_id):
    base = group_envelope(alice, group_id, [alice, bob, carol])
    one = base["keys"][1]

    def with_entry(**change):
        return {**base, "keys": [base["keys"][0], {**one, **change}, base["keys"][2]]}

    def without(field):
        return {k: v for k, v in base.items() if k != field}

    return {
        "g as string": ({**base, "g": str(group_id)}, "bad_request"),
        "g as bool": ({**base, "g": True}, "bad_request"),
        "to beside g": ({**base, "to": bob.id}, "bad_request"),
        "rk beside g": ({**base, "rk": bob.key_id}, "bad_request"),
        "v 2": ({**base, "v": 2}, "bad_request"),
        "missing v": (without("v"), "bad_request"),
        "missing keys": (without("keys"), "bad_request"),
        "missing cid": (without("cid"), "bad_request"),
        "cid short": ({**base, "cid": "abc"}, "bad_request"),
        "sk short": ({**base, "sk": "AAAA"}, "bad_request"),
        "n wrong size": ({**base, "n": "AAAA"}, "bad_request"),
        "ct bad b64": ({**base, "ct": base["ct"] + "="}, "bad_request"),
        "ct oversize": ({**base, "ct": "A" * 65_540}, "too_large"),
        "keys empty": ({**base, "keys": []}, "bad_request"),
        "keys an object": ({**base, "keys": {"to": bob.id}}, "bad_request"),
        "entry not an object": ({**base, "keys": [base["keys"][0], "bob"]}, "bad_request"),
        "entry to as string": (with_entry(to=str(bob.id)), "bad_request"),
        "entry without w": ({**base, "keys": [base["keys"][0], {k: v for k, v in one.items()
                                                                if k != "w"}]}, "bad_request"),
        "entry rk short": (with_entry(rk="AAAA"), "bad_request"),
        "entry n wrong size": (with_entry(n="AAAA"), "bad_request"),
        "entry w of 32 bytes": (with_entry(w="A" * 43), "bad_request"),
        "entry w of 49 bytes": (with_entry(w="A" * 66), "bad_request"),
        "same to twice": (with_entry(to=alice.id, rk=alice.key_id), "bad_request"),
        "more entries than max_members": (
            {**base, "keys": base["keys"] + [{**one, "to": 1000 + i} for i in range(62)]},
            "too_large"),
    }


BAD_SHAPES = ["g as string", "g as bool", "to beside g", "rk beside g", "v 2", "missing v",
              "missing keys", "missing cid", "cid short", "sk short", "n wrong size",
              "ct bad b64", "ct oversize", "keys empty", "keys an object",
              "entry not an object", "entry to as string", "entry without w", "entry rk short",
              "entry n wrong size", "entry w of 32 bytes", "entry w of 49 bytes",
              "same to twice", "more entries than max_members"]


@pytest.mark.parametrize("case", BAD_SHAPES)
def test_bad_group_envelope_gets_its_code_and_nothing_is_stored(app, group, case):
    group_id, alice, bob, carol, eve, s = group
    payload, code = _bad_shapes(alice, bob, carol, group_id)[case]
    ack = send(s["alice"], payload)
    assert ack["ok"] is False and ack["error"] == code, ack
    assert ack["message"]
    assert received(s["bob"], "message") == []
    assert stored_count(app) == (0, 0)
    good = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    assert good["ok"] is True and s["alice"].is_connected()


def test_max_members_entries_are_accepted_by_the_shape_check(app, group):
    """64 entries pass step 1 (they then fail membership: stale_members, not too_large)."""
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    envelope["keys"] += [{**envelope["keys"][1], "to": 1000 + i} for i in range(61)]
    assert len(envelope["keys"]) == app.config["GROUP_MAX_MEMBERS"]
    assert send(s["alice"], envelope)["error"] == "stale_members"


# --- §9.5 step 2: idempotency ---------------------------------------------------------------

def test_a_retried_cid_answers_the_first_id_and_ts_and_relays_the_stored_message_again(
        app, group):
    """Again, not never: the process that stored it may have died before relaying it."""
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    first = send(s["alice"], envelope)
    for sio in s.values():
        sio.get_received()
    shuffled = {**envelope, "keys": list(reversed(envelope["keys"]))}  # a set: any order
    again = send(s["alice"], shuffled)
    assert again == first
    for person in (alice, bob, carol):  # each member its own entry, under the first id
        relayed = received(s[person.username], "message")
        assert [m["id"] for m in relayed] == [first["id"]]
        assert relayed == [delivered_to(envelope, person, first, alice)]
    assert received(s["eve"], "message") == []
    assert stored_count(app) == (1, 3)


@pytest.mark.parametrize("change", ["ct", "n", "sk", "g", "a wrap", "an entry's rk"])
def test_the_same_cid_with_other_content_is_conflict(app, group, change):
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    assert send(s["alice"], envelope)["ok"]
    other_group = make_group(app, alice, bob, carol)
    old_key = add_old_key(app, alice)
    other = {**envelope, "keys": [dict(e) for e in envelope["keys"]]}
    if change in ("ct", "n"):
        other[change] = group_envelope(alice, group_id, [])[change]
    elif change == "sk":
        other["sk"] = old_key
        other["keys"][0]["rk"] = old_key
    elif change == "g":
        other["g"] = other_group
    elif change == "a wrap":
        other["keys"][1]["w"] = entry(bob)["w"]
    else:
        other["keys"][0]["rk"] = old_key
    ack = send(s["alice"], other)
    assert ack["ok"] is False and ack["error"] == "conflict", ack
    assert stored_count(app) == (1, 3)


def test_conflict_is_checked_before_membership(app, group):
    """Step 2 precedes step 5: a reused cid on a now stale list is `conflict`."""
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    assert send(s["alice"], envelope)["ok"]
    remove_member(app, group_id, carol)
    other = group_envelope(alice, group_id, [alice, bob, carol], cid=envelope["cid"])
    assert send(s["alice"], other)["error"] == "conflict"


def test_idempotency_spans_pair_and_group_messages(app, group):
    group_id, alice, bob, carol, eve, s = group
    pair = text_envelope(alice, bob, "pair first")
    assert send(s["alice"], pair)["ok"]
    ack = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol], cid=pair["cid"]))
    assert ack["ok"] is False and ack["error"] == "conflict", ack
    grouped = group_envelope(alice, group_id, [alice, bob, carol])
    assert send(s["alice"], grouped)["ok"]
    ack = send(s["alice"], text_envelope(alice, bob, "pair second", cid=grouped["cid"]))
    assert ack["ok"] is False and ack["error"] == "conflict", ack
    assert stored_count(app) == (2, 3)
    # The cid is per sender: bob may use alice's cid.
    assert send(s["bob"], group_envelope(bob, group_id, [alice, bob, carol],
                                         cid=grouped["cid"]))["ok"]


def test_a_retry_of_a_stored_message_succeeds_after_a_membership_change(app, group, people):
    group_id, alice, bob, carol, eve, s = group
    envelope = group_envelope(alice, group_id, [alice, bob, carol])
    first = send(s["alice"], envelope)
    remove_member(app, group_id, carol)
    add_member(app, group_id, eve, alice)
    assert send(s["alice"], envelope) == first
    remove_member(app, group_id, alice)  # even after the sender left
    assert send(s["alice"], envelope) == first
    assert stored_count(app) == (1, 3)


# --- §9.5 steps 3-6: membership, sk, members, rk --------------------------------------------

def test_a_non_member_and_an_unknown_group_get_not_found(app, group):
    group_id, alice, bob, carol, eve, s = group
    for payload in (group_envelope(eve, group_id, [alice, bob, carol, eve]),
                    group_envelope(eve, group_id, [alice, bob, carol]),
                    group_envelope(alice, group_id + 100, [alice, bob, carol])):
        sender = s["eve"] if payload["sk"] == eve.key_id else s["alice"]
        ack = send(sender, payload)
        assert ack["ok"] is False and ack["error"] == "not_found", ack
    assert received(s["bob"], "message") == []
    assert stored_count(app) == (0, 0)


def test_not_found_is_checked_before_the_sender_key(group):
    group_id, alice, bob, carol, eve, s = group
    payload = {**group_envelope(eve, group_id, [alice, bob, carol, eve]), "sk": "A" * 12}
    assert send(s["eve"], payload)["error"] == "not_found"


def test_an_unknown_sk_is_bad_request_naming_it_before_stale_members(group):
    group_id, alice, bob, carol, eve, s = group
    payload = group_envelope(alice, group_id, [alice, bob])  # stale too
    payload["sk"] = payload["keys"][0]["rk"] = "B" * 12
    ack = send(s["alice"], payload)
    assert ack["ok"] is False and ack["error"] == "bad_request" and "B" * 12 in ack["message"]


@pytest.mark.parametrize("listed", ["without carol", "with eve", "without the sender"])
def test_a_list_other_than_the_members_is_stale_members_with_the_members(app, group, listed):
    group_id, alice, bob, carol, eve, s = group
    members = {"without carol": [alice, bob], "with eve": [alice, bob, carol, eve],
               "without the sender": [bob, carol]}[listed]
    ack = send(s["alice"], group_envelope(alice, group_id, members))
    assert ack == {"ok": False, "error": "stale_members", "message": ack["message"],
                   "members": sorted([alice.id, bob.id, carol.id])}
    assert ack["message"]
    assert received(s["bob"], "message") == []
    assert stored_count(app) == (0, 0)


def test_stale_members_is_checked_before_the_member_keys(group):
    group_id, alice, bob, carol, eve, s = group
    payload = group_envelope(alice, group_id, [alice, bob])
    payload["keys"][1]["rk"] = "C" * 12
    assert send(s["alice"], payload)["error"] == "stale_members"


def test_a_member_rk_that_is_not_their_key_is_bad_request_naming_it(app, group):
    group_id, alice, bob, carol, eve, s = group
    payload = group_envelope(alice, group_id, [alice, bob, carol])
    payload["keys"][2]["rk"] = bob.key_id  # bob's key, listed for carol
    ack = send(s["alice"], payload)
    assert ack["ok"] is False and ack["error"] == "bad_request", ack
    assert bob.key_id in ack["message"] and str(carol.id) in ack["message"]
    assert stored_count(app) == (0, 0)


def test_an_older_key_of_a_member_is_accepted_as_rk(app, group):
    group_id, alice, bob, carol, eve, s = group
    old = add_old_key(app, bob)
    payload = group_envelope(alice, group_id, [alice, bob, carol])
    payload["keys"][1]["rk"] = old
    assert send(s["alice"], payload)["ok"] is True


def test_the_senders_own_entry_must_use_sk(app, group):
    """§9.4 self wrap: rk = sk, even when the entry names another key of the sender."""
    group_id, alice, bob, carol, eve, s = group
    payload = group_envelope(alice, group_id, [alice, bob, carol])
    payload["keys"][0]["rk"] = add_old_key(app, alice)
    ack = send(s["alice"], payload)
    assert ack["ok"] is False and ack["error"] == "bad_request", ack
    assert "sk" in ack["message"]
    assert stored_count(app) == (0, 0)


def test_stale_members_then_a_reseal_with_the_same_cid_stores_one_message(app, group, people):
    group_id, alice, bob, carol, eve, s = group
    add_member(app, group_id, eve, alice)
    stale = group_envelope(alice, group_id, [alice, bob, carol])
    refused = send(s["alice"], stale)
    assert refused["error"] == "stale_members"
    assert refused["members"] == sorted([alice.id, bob.id, carol.id, eve.id])
    resealed = group_envelope(alice, group_id, [alice, bob, carol, eve], cid=stale["cid"])
    ack = send(s["alice"], resealed)
    assert ack["ok"] is True, ack
    assert send(s["alice"], resealed) == ack  # a retry: relayed again, same id
    assert stored_count(app) == (1, 4)
    for person in (alice, bob, carol, eve):
        assert received(s[person.username], "message") == [
            delivered_to(resealed, person, ack, alice)] * 2


# --- membership over time -------------------------------------------------------------------

def test_a_removed_member_receives_nothing_after_removal_live_or_by_sync(app, group):
    group_id, alice, bob, carol, eve, s = group
    before = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    remove_member(app, group_id, carol)
    s["carol"].get_received()
    after = send(s["alice"], group_envelope(alice, group_id, [alice, bob]))
    assert after["ok"] is True, after
    assert received(s["carol"], "message") == []
    assert [m["id"] for m in sync(s["carol"])["messages"]] == [before["id"]]  # kept, not new
    assert sync(s["carol"])["last"] == before["id"]
    assert [m["id"] for m in sync(s["bob"])["messages"]] == [before["id"], after["id"]]
    assert carol_history_status(carol, group_id) == 404


def carol_history_status(person, group_id):
    return person.get(f"/api/groups/{group_id}/messages").status_code


def test_a_new_member_cannot_read_older_messages(app, group, make_user, make_friends,
                                                 socket_client):
    group_id, alice, bob, carol, eve, s = group
    older = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    add_member(app, group_id, eve, alice)
    newer_envelope = group_envelope(alice, group_id, [alice, bob, carol, eve])
    newer = send(s["alice"], newer_envelope)
    assert [m["id"] for m in sync(s["eve"])["messages"]] == [newer["id"]]
    page = eve.get(f"/api/groups/{group_id}/messages").get_json()
    assert page == {"messages": [delivered_to(newer_envelope, eve, newer, alice)],
                    "more": False}
    assert older["id"] < newer["id"]


# --- sync -----------------------------------------------------------------------------------

def test_sync_merges_pair_and_group_messages_in_id_order_with_limit_more_and_last(group):
    group_id, alice, bob, carol, eve, s = group
    sent = []
    for i in range(3):
        pair = text_envelope(alice, bob, f"pair {i}")
        sent.append((send(s["alice"], pair)["id"], "pair"))
        grouped = group_envelope(carol, group_id, [alice, bob, carol])
        sent.append((send(s["carol"], grouped)["id"], "group"))
    ids = [i for i, _kind in sent]
    first = sync(s["bob"], limit=4)
    assert [m["id"] for m in first["messages"]] == ids[:4]
    assert first["more"] is True and first["last"] == ids[-1]
    rest = sync(s["bob"], after=ids[3], limit=4)
    assert [m["id"] for m in rest["messages"]] == ids[4:]
    assert rest["more"] is False and rest["last"] == ids[-1]
    kinds = ["g" in m for m in first["messages"] + rest["messages"]]
    assert kinds == [kind == "group" for _i, kind in sent]
    for message in first["messages"] + rest["messages"]:
        if "g" in message:
            assert [e["to"] for e in message["keys"]] == [bob.id]
    empty = sync(s["bob"], after=ids[-1])
    assert empty == {"ok": True, "messages": [], "more": False, "last": ids[-1]}
    # carol has no 1:1 messages: her view counts the group messages only, her own included
    assert [m["id"] for m in sync(s["carol"])["messages"]] == ids[1::2]
    assert sync(s["eve"]) == {"ok": True, "messages": [], "more": False, "last": 0}


def test_sync_last_counts_group_messages_when_the_page_is_partial(group):
    group_id, alice, bob, carol, eve, s = group
    pair = send(s["alice"], text_envelope(alice, bob, "pair"))
    grouped = send(s["carol"], group_envelope(carol, group_id, [alice, bob, carol]))
    page = sync(s["bob"], limit=1)
    assert [m["id"] for m in page["messages"]] == [pair["id"]]
    assert page["more"] is True and page["last"] == grouped["id"]


def test_a_senders_group_message_is_not_synced_as_a_pair_message(group):
    group_id, alice, bob, carol, eve, s = group
    ack = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    messages = sync(s["alice"])["messages"]
    assert [(m["id"], [e["to"] for e in m["keys"]]) for m in messages] == [(ack["id"],
                                                                           [alice.id])]


# --- history --------------------------------------------------------------------------------

def test_group_history_is_for_members_only(app, group):
    group_id, alice, bob, carol, eve, s = group
    send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    for url in (f"/api/groups/{group_id}/messages", f"/api/groups/{group_id + 1}/messages",
                f"/api/groups/{group_id}/messages?before=x"):
        response = eve.get(url)
        assert response.status_code == 404, url
        assert response.get_json()["error"] == "not_found"


def test_group_history_pages_like_the_pair_history(app, group):
    group_id, alice, bob, carol, eve, s = group
    envelopes = [group_envelope(alice, group_id, [alice, bob, carol]) for _ in range(5)]
    acks = [send(s["alice"], e) for e in envelopes]
    send(s["alice"], text_envelope(alice, bob, "not in the group"))
    newest = bob.get(f"/api/groups/{group_id}/messages?limit=2").get_json()
    assert newest["more"] is True
    assert newest["messages"] == [delivered_to(e, bob, a, alice)
                                  for e, a in zip(envelopes[3:], acks[3:])]
    older = bob.get(f"/api/groups/{group_id}/messages?limit=2&before={acks[3]['id']}").get_json()
    assert [m["id"] for m in older["messages"]] == [a["id"] for a in acks[1:3]]
    oldest = bob.get(f"/api/groups/{group_id}/messages?before={acks[1]['id']}").get_json()
    assert oldest == {"messages": [delivered_to(envelopes[0], bob, acks[0], alice)],
                      "more": False}
    bad = bob.get(f"/api/groups/{group_id}/messages?limit=0")
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_request"


# --- typing and read ------------------------------------------------------------------------

def test_typing_in_a_group_goes_to_every_other_member(group):
    group_id, alice, bob, carol, eve, s = group
    assert s["bob"].emit("typing", {"group": group_id, "on": True}, callback=True) == {"ok": True}
    expected = [{"from": bob.id, "group": group_id, "on": True}]
    assert received(s["alice"], "typing") == expected
    assert received(s["carol"], "typing") == expected
    assert received(s["bob"], "typing") == [] and received(s["eve"], "typing") == []


@pytest.mark.parametrize("event", ["typing", "read"])
def test_typing_and_read_in_a_group_are_for_members_only(group, event):
    group_id, alice, bob, carol, eve, s = group
    for target in (group_id, group_id + 1):
        ack = s["eve"].emit(event, {"group": target, "on": True, "up_to": 1}, callback=True)
        assert ack["ok"] is False and ack["error"] == "not_found", ack
    ack = s["eve"].emit(event, {"group": str(group_id), "up_to": 1}, callback=True)
    assert ack["error"] == "bad_request"
    assert received(s["alice"], event) == [] and received(s["bob"], event) == []


@pytest.mark.parametrize("event, friend_field", [("typing", "to"), ("read", "friend"),
                                                 ("read", "to"), ("typing", "friend")])
def test_naming_a_group_and_a_friend_is_bad_request(group, event, friend_field):
    group_id, alice, bob, carol, eve, s = group
    data = {"group": group_id, friend_field: bob.id, "on": True, "up_to": 0}
    ack = s["alice"].emit(event, data, callback=True)
    assert ack["ok"] is False and ack["error"] == "bad_request", ack
    assert received(s["bob"], event) == []


def test_group_read_marker_moves_forward_only_clamped_and_reaches_every_member(
        app, group, socket_client):
    group_id, alice, bob, carol, eve, s = group
    bob_phone = socket_client(bob)
    bob_phone.get_received()
    first = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    second = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    send(s["alice"], text_envelope(alice, bob, "a later 1:1 message"))
    for sio in (*s.values(), bob_phone):
        sio.get_received()
    ack = s["bob"].emit("read", {"group": group_id, "up_to": 10**9}, callback=True)
    assert ack == {"ok": True, "up_to": second["id"]}  # clamped to the group's newest
    expected = [{"from": bob.id, "group": group_id, "up_to": second["id"]}]
    for sio in (s["alice"], s["carol"], s["bob"], bob_phone):
        assert received(sio, "read") == expected
    assert received(s["eve"], "read") == []
    back = s["bob"].emit("read", {"group": group_id, "up_to": first["id"]}, callback=True)
    assert back == {"ok": True, "up_to": second["id"]}  # never moves back
    with app.app_context():
        assert db.session.get(GroupMember, (group_id, bob.id)).read_up_to == second["id"]


def test_group_read_marker_stops_at_the_newest_message_wrapped_for_the_reader(app, group):
    group_id, alice, bob, carol, eve, s = group
    mine = send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
    remove_member(app, group_id, carol)
    send(s["alice"], group_envelope(alice, group_id, [alice, bob]))
    add_member(app, group_id, carol, alice)
    ack = s["carol"].emit("read", {"group": group_id, "up_to": 10**9}, callback=True)
    assert ack == {"ok": True, "up_to": mine["id"]}


# --- conversation list ----------------------------------------------------------------------

def test_conversations_list_the_callers_groups_with_unread_counts(app, group):
    group_id, alice, bob, carol, eve, s = group
    empty_group = make_group(app, bob, alice)
    pair = send(s["alice"], text_envelope(alice, bob, "pair"))
    acks = [send(s["alice"], group_envelope(alice, group_id, [alice, bob, carol]))
            for _ in range(3)]
    own = send(s["bob"], group_envelope(bob, group_id, [alice, bob, carol]))
    s["bob"].emit("read", {"group": group_id, "up_to": acks[0]["id"]}, callback=True)
    body = bob.get("/api/conversations").get_json()
    assert body["conversations"] == [{"friend": alice.id, "last_id": pair["id"],
                                      "last_ts": pair["ts"], "unread": 1, "read_up_to": 0,
                                      "peer_read_up_to": 0}]
    assert body["groups"] == [
        {"group": group_id, "last_id": own["id"], "last_ts": own["ts"], "unread": 2,
         "read_up_to": acks[0]["id"]},
        {"group": empty_group, "last_id": 0, "last_ts": None, "unread": 0, "read_up_to": 0}]
    assert eve.get("/api/conversations").get_json()["groups"] == []
    add_member(app, group_id, eve, alice)  # older messages are not hers: nothing unread
    assert eve.get("/api/conversations").get_json()["groups"] == [
        {"group": group_id, "last_id": 0, "last_ts": None, "unread": 0, "read_up_to": 0}]
