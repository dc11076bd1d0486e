"""Who receives which `group` event (PROTOCOL §9.5): alice with her friends bob and carol (not
friends with each other), dave (alice's friend, added later) and eve, a stranger to all."""
import pytest

from sendapp.auth import admin

EVENT_FIELDS = {"id", "change", "user", "by", "group"}


def group_events(sio):
    """The `group` payloads a socket received since the last call, in order."""
    payloads = []
    for event in sio.get_received():
        if event["name"] == "group":
            args = event["args"]
            payloads.append(args[0] if isinstance(args, list) else args)
    for payload in payloads:
        assert set(payload) == EVENT_FIELDS
    return payloads


def summary(events):
    return [(e["change"], e["user"], e["by"]) for e in events]


def key_changes(sio):
    return [e["args"][0]["user"] for e in sio.get_received() if e["name"] == "key_changed"]


@pytest.fixture
def world(make_user, make_friends, socket_client):
    alice, bob, carol, dave, eve = (make_user(n) for n in ("alice", "bob", "carol", "dave", "eve"))
    for friend in (bob, carol, dave):
        make_friends(alice, friend)
    people = {p.username: p for p in (alice, bob, carol, dave, eve)}
    sockets = {name: socket_client(p) for name, p in people.items()}
    drain(sockets)
    return people, sockets


def drain(sockets):
    for sio in sockets.values():
        sio.get_received()


def create(person, *members):
    response = person.post("/api/groups", json={"members": [m.id for m in members]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["group"]


def test_created_goes_to_every_member_with_its_own_view(world):
    p, s = world
    group = create(p["alice"], p["bob"], p["carol"])
    for name, role in (("alice", "admin"), ("bob", "member"), ("carol", "member")):
        events = group_events(s[name])
        assert summary(events) == [("created", p["alice"].id, p["alice"].id)]
        assert events[0]["id"] == group["id"]
        assert events[0]["group"]["my_role"] == role
        assert events[0]["group"]["members"] == group["members"]
    assert group_events(s["dave"]) == [] and group_events(s["eve"]) == []


def test_added_goes_to_every_member_the_new_one_included(world):
    p, s = world
    group = create(p["alice"], p["bob"])
    drain(s)
    p["alice"].post(f"/api/groups/{group['id']}/members", json={"user": p["dave"].id})
    for name in ("alice", "bob", "dave"):
        events = group_events(s[name])
        assert summary(events) == [("added", p["dave"].id, p["alice"].id)]
        assert [m["id"] for m in events[0]["group"]["members"]] == \
            [p["alice"].id, p["bob"].id, p["dave"].id]
    assert group_events(s["carol"]) == [] and group_events(s["eve"]) == []


def test_a_refused_add_emits_nothing(world):
    p, s = world
    group = create(p["alice"], p["bob"])
    drain(s)
    assert p["alice"].post(f"/api/groups/{group['id']}/members",
                           json={"user": p["eve"].id}).status_code == 403
    assert p["bob"].post(f"/api/groups/{group['id']}/members",
                         json={"user": p["carol"].id}).status_code == 403
    assert all(group_events(sio) == [] for sio in s.values())


def test_removed_goes_to_the_members_and_the_removed_user_without_the_group(world):
    p, s = world
    group = create(p["alice"], p["bob"], p["carol"])
    drain(s)
    p["alice"].delete(f"/api/groups/{group['id']}/members/{p['bob'].id}")
    removed = group_events(s["bob"])
    assert summary(removed) == [("removed", p["bob"].id, p["alice"].id)]
    assert removed[0]["group"] is None and removed[0]["id"] == group["id"]
    for name in ("alice", "carol"):
        events = group_events(s[name])
        assert summary(events) == [("removed", p["bob"].id, p["alice"].id)]
        assert [m["id"] for m in events[0]["group"]["members"]] == [p["alice"].id, p["carol"].id]
    assert group_events(s["eve"]) == [] and group_events(s["dave"]) == []


def test_left_goes_to_the_members_and_the_leaver(world):
    p, s = world
    group = create(p["alice"], p["bob"], p["carol"])
    drain(s)
    p["carol"].delete(f"/api/groups/{group['id']}/members/{p['carol'].id}")
    left = group_events(s["carol"])
    assert summary(left) == [("left", p["carol"].id, p["carol"].id)] and left[0]["group"] is None
    for name in ("alice", "bob"):
        assert summary(group_events(s[name])) == [("left", p["carol"].id, p["carol"].id)]
    assert group_events(s["eve"]) == []


def test_the_last_admin_leaving_is_followed_by_a_server_promotion(world):
    p, s = world
    group = create(p["alice"], p["bob"], p["carol"])
    drain(s)
    p["alice"].delete(f"/api/groups/{group['id']}/members/{p['alice'].id}")
    alice = p["alice"].id
    assert summary(group_events(s["alice"])) == [("left", alice, alice)]
    for name, role in (("bob", "admin"), ("carol", "member")):
        events = group_events(s[name])
        assert summary(events) == [("left", alice, alice), ("promoted", p["bob"].id, None)]
        assert events[1]["group"]["my_role"] == role
    assert group_events(s["eve"]) == []


def test_promoted_goes_to_every_member_and_repeating_it_is_silent(world):
    p, s = world
    group = create(p["alice"], p["bob"], p["carol"])
    drain(s)
    p["alice"].post(f"/api/groups/{group['id']}/admins", json={"user": p["carol"].id})
    for name, role in (("alice", "admin"), ("bob", "member"), ("carol", "admin")):
        events = group_events(s[name])
        assert summary(events) == [("promoted", p["carol"].id, p["alice"].id)]
        assert events[0]["group"]["my_role"] == role
    assert group_events(s["eve"]) == []
    p["alice"].post(f"/api/groups/{group['id']}/admins", json={"user": p["carol"].id})
    p["carol"].post(f"/api/groups/{group['id']}/admins", json={"user": p["alice"].id})
    assert all(group_events(sio) == [] for sio in s.values())


def test_the_last_member_leaving_gets_deleted_instead_of_left(world):
    p, s = world
    group = create(p["alice"], p["bob"])
    p["bob"].delete(f"/api/groups/{group['id']}/members/{p['bob'].id}")
    drain(s)
    p["alice"].delete(f"/api/groups/{group['id']}/members/{p['alice'].id}")
    events = group_events(s["alice"])
    assert summary(events) == [("deleted", p["alice"].id, p["alice"].id)]
    assert events[0]["group"] is None and events[0]["id"] == group["id"]
    assert all(group_events(sio) == [] for sio in s.values())


def test_account_deletion_is_a_left_by_no_one_then_a_server_promotion(app, world):
    p, s = world
    shared = create(p["alice"], p["carol"], p["bob"])
    alone = create(p["alice"])
    drain(s)
    with app.app_context():
        admin.delete_user("alice")
    alice = p["alice"].id
    for name, role in (("bob", "admin"), ("carol", "member")):
        events = group_events(s[name])
        assert summary(events) == [("left", alice, None), ("promoted", p["bob"].id, None)]
        assert {e["id"] for e in events} == {shared["id"]}
        assert events[1]["group"]["my_role"] == role
    assert group_events(s["dave"]) == [] and group_events(s["eve"]) == []
    assert alone["id"] != shared["id"]


def test_account_deletion_of_a_plain_member_promotes_no_one(app, world):
    p, s = world
    group = create(p["alice"], p["bob"], p["carol"])
    drain(s)
    with app.app_context():
        admin.delete_user("carol")
    for name in ("alice", "bob"):
        events = group_events(s[name])
        assert summary(events) == [("left", p["carol"].id, None)]
        assert [m["id"] for m in events[0]["group"]["members"]] == [p["alice"].id, p["bob"].id]


def test_key_changed_reaches_co_members_once_and_not_strangers(world):
    p, s = world
    create(p["alice"], p["bob"], p["carol"])
    create(p["alice"], p["bob"], p["carol"])  # two shared groups: still one event
    drain(s)
    from sendapp import crypto
    from sendapp.encoding import b64url_encode
    from support.people import PASSWORD, ITERATIONS

    bob = p["bob"]
    secrets = crypto.derive_account_secrets(bob.username, PASSWORD, ITERATIONS)
    private, public = crypto.generate_identity()
    vault = crypto.encrypt_vault(secrets.vault_key, bob.username,
                                 [crypto.vault_entry(private, public, 1)])
    response = bob.put("/api/me/vault", json={"auth": secrets.auth, "vault": vault,
                                              "public_key": b64url_encode(public)})
    assert response.status_code == 200, response.get_json()
    assert key_changes(s["carol"]) == [bob.id]  # a co-member, not a friend
    assert key_changes(s["alice"]) == [bob.id]  # friend and co-member: once
    assert key_changes(s["bob"]) == [bob.id]  # own other devices
    assert key_changes(s["dave"]) == [] and key_changes(s["eve"]) == []
