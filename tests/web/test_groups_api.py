"""Group membership over HTTP (PROTOCOL §9.1, §9.2): alice and her friends bob and carol
(who are not friends with each other), and eve, a stranger to all three."""
import os
import secrets
from pathlib import Path

import pytest

from sendapp.auth import admin
from sendapp.blobs import collector
from sendapp.extensions import db
from sendapp.models import Blob, Group, GroupMember, IdentityKey, Message, MessageKey

MEMBER_FIELDS = {"id", "username", "role", "added", "added_by", "key_id", "read_up_to"}


@pytest.fixture
def people(make_user, make_friends):
    alice, bob, carol, eve = (make_user(n) for n in ("alice", "bob", "carol", "eve"))
    make_friends(alice, bob)
    make_friends(alice, carol)
    return alice, bob, carol, eve


def create(person, *members):
    response = person.post("/api/groups", json={"members": [m.id for m in members]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["group"]


def group_of(person, group_id):
    response = person.get(f"/api/groups/{group_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["group"]


def roles(group):
    return [(m["id"], m["role"]) for m in group["members"]]


def error(response, status, code):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    return body["message"]


def group_count(app):
    with app.app_context():
        return db.session.query(Group).count()


def drop_current_key(app, person):
    """Make the person keyless, as an account the admin CLI made or reset."""
    with app.app_context():
        db.session.execute(db.update(IdentityKey).where(IdentityKey.user_id == person.id)
                           .values(current=False))
        db.session.commit()


def store_group_message(app, group_id, sender, wrapped_for):
    """A stored group message with one wrap per member (the send path is not ours to test)."""
    with app.app_context():
        message = Message(sender_id=sender.id, group_id=group_id, cid=secrets.token_urlsafe(16),
                          sk=sender.key_id, n="A" * 16, ct="B" * 64)
        db.session.add(message)
        db.session.flush()
        for person in wrapped_for:
            db.session.add(MessageKey(message_id=message.id, user_id=person.id,
                                      rk=person.key_id, n="C" * 16, w="D" * 64))
        db.session.commit()
        return message.id


def upload(person, query, size=100):
    return person.post(f"/api/blobs?{query}", data=os.urandom(size),
                       content_type="application/octet-stream")


def blob_files(app):
    root = Path(app.config["BLOB_DIR"])
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- create and read -------------------------------------------------------------------


def test_create_answers_the_group_as_the_creator_sees_it(people):
    alice, bob, carol, eve = people
    group = create(alice, carol, bob)
    assert set(group) == {"id", "created", "created_by", "members", "my_role"}
    assert group["created_by"] == alice.id and group["my_role"] == "admin"
    assert isinstance(group["id"], int) and isinstance(group["created"], int)
    for member in group["members"]:
        assert set(member) == MEMBER_FIELDS
        assert member["added_by"] == alice.id and member["added"] == group["created"]
        assert member["read_up_to"] == 0
    # oldest first: all added at `created`, so ascending user id
    assert roles(group) == [(alice.id, "admin"), (bob.id, "member"), (carol.id, "member")]
    keys = {m["id"]: m["key_id"] for m in group["members"]}
    assert keys == {alice.id: alice.key_id, bob.id: bob.key_id, carol.id: carol.key_id}
    assert [m["username"] for m in group["members"]] == ["alice", "bob", "carol"]


def test_each_member_sees_its_own_role(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    seen = group_of(bob, group["id"])
    assert seen["my_role"] == "member"
    assert {k: v for k, v in seen.items() if k != "my_role"} == \
        {k: v for k, v in group.items() if k != "my_role"}


def test_a_group_may_start_with_the_creator_alone(people):
    alice = people[0]
    group = create(alice)
    assert roles(group) == [(alice.id, "admin")]


def test_list_holds_my_groups_ascending_and_announces_max_members(people):
    alice, bob, carol, eve = people
    first, second = create(alice, bob), create(alice, carol)
    listing = alice.get("/api/groups").get_json()
    assert listing["max_members"] == 64
    assert [g["id"] for g in listing["groups"]] == sorted([first["id"], second["id"]])
    assert listing["groups"][0] == group_of(alice, listing["groups"][0]["id"])
    assert [g["id"] for g in bob.get("/api/groups").get_json()["groups"]] == [first["id"]]
    assert eve.get("/api/groups").get_json() == {"groups": [], "max_members": 64}


def test_max_members_comes_from_the_setting(make_app):
    from support.people import https_client, register

    app = make_app(GROUP_MAX_MEMBERS=3)
    alice = register(https_client(app), "alice")
    assert alice.get("/api/groups").get_json()["max_members"] == 3


@pytest.mark.parametrize("body", [
    {},
    {"members": None},
    {"members": "2"},
    {"members": {"2": True}},
    {"members": ["2"]},
    {"members": [2.0]},
    {"members": [True]},
    {"members": [0]},
    {"members": [-3]},
    {"members": [2**40]},
    {"members": ["bob", "carol"]},
    [],
])
def test_create_refuses_other_shapes(app, people, body):
    alice = people[0]
    error(alice.post("/api/groups", json=body), 400, "bad_request")
    assert group_count(app) == 0


def test_create_refuses_duplicates_and_self(app, people):
    alice, bob, carol, eve = people
    error(alice.post("/api/groups", json={"members": [bob.id, bob.id]}), 400, "bad_request")
    error(alice.post("/api/groups", json={"members": [alice.id, bob.id]}), 400, "bad_request")
    assert group_count(app) == 0


def test_create_refuses_more_than_max_members_minus_one(make_app, make_friends):
    from support.people import https_client, register

    app = make_app(GROUP_MAX_MEMBERS=3)
    alice, bob, carol, dave = (register(https_client(app), n)
                               for n in ("alice", "bob", "carol", "dave"))
    for friend in (bob, carol, dave):
        make_friends(alice, friend)
    body = {"members": [bob.id, carol.id, dave.id]}
    error(alice.post("/api/groups", json=body), 400, "bad_request")
    assert group_count(app) == 0
    response = alice.post("/api/groups", json={"members": [bob.id, carol.id]})
    assert response.status_code == 201 and len(response.get_json()["group"]["members"]) == 3


def test_create_names_the_first_member_who_is_not_a_friend(app, people):
    alice, bob, carol, eve = people
    message = error(alice.post("/api/groups", json={"members": [bob.id, eve.id, 9999]}),
                    403, "forbidden")
    assert str(eve.id) in message and "9999" not in message
    message = error(alice.post("/api/groups", json={"members": [bob.id, 9999]}),
                    403, "forbidden")
    assert "9999" in message  # an unknown id is "not a friend" alike
    assert group_count(app) == 0


def test_create_with_a_pending_request_is_forbidden(app, people):
    alice, bob, carol, eve = people
    alice.post("/api/friends", json={"username": "eve"})  # asked, not accepted
    error(alice.post("/api/groups", json={"members": [eve.id]}), 403, "forbidden")
    assert group_count(app) == 0


def test_create_names_a_member_without_a_current_key(app, people):
    alice, bob, carol, eve = people
    drop_current_key(app, carol)
    message = error(alice.post("/api/groups", json={"members": [bob.id, carol.id]}),
                    409, "conflict")
    assert str(carol.id) in message
    assert group_count(app) == 0


def test_friendship_is_checked_before_keys(app, people):
    alice, bob, carol, eve = people
    drop_current_key(app, bob)
    error(alice.post("/api/groups", json={"members": [bob.id, eve.id]}), 403, "forbidden")


def test_group_ids_are_never_reused(people):
    alice = people[0]
    first = create(alice)
    assert alice.delete(f"/api/groups/{first['id']}/members/{alice.id}").status_code == 204
    assert create(alice)["id"] > first["id"]


# --- 404 first, for non-members and unknown ids alike -----------------------------------


def _routes(group_id, user_id):
    return [
        ("get", f"/api/groups/{group_id}", None),
        ("post", f"/api/groups/{group_id}/members", {"user": user_id}),
        ("post", f"/api/groups/{group_id}/members", {"user": "not an id"}),
        ("delete", f"/api/groups/{group_id}/members/{user_id}", None),
        ("post", f"/api/groups/{group_id}/admins", {"user": user_id}),
        ("post", f"/api/groups/{group_id}/admins", None),
    ]


@pytest.mark.parametrize("index", range(6))
def test_every_group_route_answers_404_to_a_non_member_as_to_an_unknown_id(people, index):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    answers = []
    for group_id in (group["id"], group["id"] + 1000, 2**31 - 1, 2**40):
        method, path, body = _routes(group_id, bob.id)[index]
        call = getattr(eve, method)
        response = call(path, json=body) if body is not None else call(path)
        assert response.status_code == 404, (path, response.get_json())
        answers.append(response.get_json())
    assert answers[0] == answers[1] == answers[2]  # a group one is not in looks unknown
    assert {a["error"] for a in answers} == {"not_found"}
    assert group_of(alice, group["id"]) == group  # nothing changed


def test_a_removed_member_gets_404_afterwards(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    assert alice.delete(f"/api/groups/{group['id']}/members/{bob.id}").status_code == 204
    error(bob.get(f"/api/groups/{group['id']}"), 404, "not_found")
    assert bob.get("/api/groups").get_json()["groups"] == []


# --- add -------------------------------------------------------------------------------


def test_admin_adds_a_friend(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    response = alice.post(f"/api/groups/{group['id']}/members", json={"user": carol.id})
    assert response.status_code == 200
    added = response.get_json()["group"]
    assert roles(added) == [(alice.id, "admin"), (bob.id, "member"), (carol.id, "member")]
    carol_row = added["members"][-1]
    assert carol_row["added_by"] == alice.id and carol_row["added"] >= group["created"]
    assert carol_row["key_id"] == carol.key_id and carol_row["read_up_to"] == 0
    assert group_of(carol, group["id"])["my_role"] == "member"


def test_members_are_oldest_first_not_by_id(people, make_user, make_friends):
    alice, bob, carol, eve = people
    group = create(alice, carol)
    dave = make_user("dave")
    make_friends(alice, dave)
    alice.post(f"/api/groups/{group['id']}/members", json={"user": dave.id})
    alice.post(f"/api/groups/{group['id']}/members", json={"user": bob.id})  # bob: lower id
    ids = [m["id"] for m in group_of(alice, group["id"])["members"]]
    assert ids == [alice.id, carol.id, dave.id, bob.id]


def test_only_an_admin_adds(app, people):
    alice, bob, carol, eve = people
    assert bob.post("/api/friends", json={"username": "eve"}).status_code == 201
    assert eve.post(f"/api/friends/{bob.id}/accept").status_code == 200
    group = create(alice, bob)
    error(bob.post(f"/api/groups/{group['id']}/members", json={"user": eve.id}),
          403, "forbidden")
    assert [m["id"] for m in group_of(alice, group["id"])["members"]] == [alice.id, bob.id]


def test_adding_a_non_friend_is_forbidden_and_names_them(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    message = error(alice.post(f"/api/groups/{group['id']}/members", json={"user": eve.id}),
                    403, "forbidden")
    assert str(eve.id) in message
    error(alice.post(f"/api/groups/{group['id']}/members", json={"user": 9999}),
          403, "forbidden")


def test_friendship_between_members_is_not_needed(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)  # bob and carol are not friends
    assert len(group_of(bob, group["id"])["members"]) == 3


def test_adding_an_existing_member_is_conflict(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    error(alice.post(f"/api/groups/{group['id']}/members", json={"user": bob.id}),
          409, "conflict")
    error(alice.post(f"/api/groups/{group['id']}/members", json={"user": alice.id}),
          409, "conflict")


def test_adding_a_user_without_a_current_key_is_conflict(app, people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    drop_current_key(app, carol)
    error(alice.post(f"/api/groups/{group['id']}/members", json={"user": carol.id}),
          409, "conflict")
    assert len(group_of(alice, group["id"])["members"]) == 2


def test_adding_to_a_full_group_is_conflict(make_app, make_friends):
    from support.people import https_client, register

    app = make_app(GROUP_MAX_MEMBERS=3)
    alice, bob, carol, dave = (register(https_client(app), n)
                               for n in ("alice", "bob", "carol", "dave"))
    for friend in (bob, carol, dave):
        make_friends(alice, friend)
    group = create(alice, bob, carol)
    message = error(alice.post(f"/api/groups/{group['id']}/members", json={"user": dave.id}),
                    409, "conflict")
    assert "full" in message
    assert carol.delete(f"/api/groups/{group['id']}/members/{carol.id}").status_code == 204
    assert alice.post(f"/api/groups/{group['id']}/members",
                      json={"user": dave.id}).status_code == 200


@pytest.mark.parametrize("body", [{}, {"user": "2"}, {"user": True}, {"user": 0},
                                  {"user": [2]}, {"user": 2**40}])
def test_add_refuses_other_shapes(people, body):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    error(alice.post(f"/api/groups/{group['id']}/members", json=body), 400, "bad_request")


def test_adding_is_rate_limited_like_friend_requests(make_app, make_friends):
    from support.people import https_client, register

    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_FRIENDS="4/minute")
    alice, bob, carol = (register(https_client(app), n) for n in ("alice", "bob", "carol"))
    make_friends(alice, bob)  # one friend request of alice's: its own bucket
    make_friends(alice, carol)
    groups = [alice.post("/api/groups", json={"members": []}) for _ in range(5)]
    assert [r.status_code for r in groups] == [201] * 4 + [429]
    assert groups[-1].get_json()["error"] == "rate_limited" and groups[-1].headers["Retry-After"]
    group_id = groups[0].get_json()["group"]["id"]
    adds = [alice.post(f"/api/groups/{group_id}/members", json={"user": bob.id})
            for _ in range(5)]
    assert [r.status_code for r in adds] == [200] + [409] * 3 + [429]


# --- remove and leave ------------------------------------------------------------------


def test_admin_removes_a_member(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    response = alice.delete(f"/api/groups/{group['id']}/members/{bob.id}")
    assert response.status_code == 204 and response.data == b""
    assert roles(group_of(alice, group["id"])) == [(alice.id, "admin"), (carol.id, "member")]


def test_a_member_cannot_remove_another(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    error(bob.delete(f"/api/groups/{group['id']}/members/{carol.id}"), 403, "forbidden")
    error(bob.delete(f"/api/groups/{group['id']}/members/{eve.id}"), 403, "forbidden")
    assert len(group_of(alice, group["id"])["members"]) == 3


def test_removing_a_non_member_is_not_found(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    error(alice.delete(f"/api/groups/{group['id']}/members/{carol.id}"), 404, "not_found")
    error(alice.delete(f"/api/groups/{group['id']}/members/9999"), 404, "not_found")


def test_an_admin_may_remove_another_admin(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    alice.post(f"/api/groups/{group['id']}/admins", json={"user": bob.id})
    assert bob.delete(f"/api/groups/{group['id']}/members/{alice.id}").status_code == 204
    assert roles(group_of(bob, group["id"])) == [(bob.id, "admin"), (carol.id, "member")]


def test_a_member_leaves(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    assert carol.delete(f"/api/groups/{group['id']}/members/{carol.id}").status_code == 204
    assert roles(group_of(alice, group["id"])) == [(alice.id, "admin"), (bob.id, "member")]
    error(carol.get(f"/api/groups/{group['id']}"), 404, "not_found")


def test_the_last_admin_leaving_makes_the_oldest_member_admin(people, make_user, make_friends):
    alice, bob, carol, eve = people
    group = create(alice, carol)
    alice.post(f"/api/groups/{group['id']}/members", json={"user": bob.id})  # added later
    assert alice.delete(f"/api/groups/{group['id']}/members/{alice.id}").status_code == 204
    # carol (added at creation) is older than bob, though bob's id is lower
    assert roles(group_of(bob, group["id"])) == [(carol.id, "admin"), (bob.id, "member")]


def test_an_admin_leaving_while_another_admin_stays_promotes_no_one(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    alice.post(f"/api/groups/{group['id']}/admins", json={"user": carol.id})
    alice.delete(f"/api/groups/{group['id']}/members/{alice.id}")
    assert roles(group_of(bob, group["id"])) == [(bob.id, "member"), (carol.id, "admin")]


def test_created_by_is_kept_after_the_creator_leaves(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    alice.delete(f"/api/groups/{group['id']}/members/{alice.id}")
    assert group_of(bob, group["id"])["created_by"] == alice.id


def test_the_last_member_leaving_deletes_the_group_with_everything(app, people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    other = create(alice, bob)
    store_group_message(app, group["id"], alice, [alice, bob])
    kept_message = store_group_message(app, other["id"], alice, [alice, bob])
    gone_blob = upload(bob, f"group={group['id']}").get_json()["blob"]
    kept_blob = upload(bob, f"group={other['id']}").get_json()["blob"]
    assert sorted(blob_files(app)) == sorted([gone_blob, kept_blob])
    alice.delete(f"/api/groups/{group['id']}/members/{alice.id}")
    assert bob.delete(f"/api/groups/{group['id']}/members/{bob.id}").status_code == 204
    error(bob.get(f"/api/groups/{group['id']}"), 404, "not_found")
    with app.app_context():
        assert db.session.get(Group, group["id"]) is None
        assert db.session.query(GroupMember).filter_by(group_id=group["id"]).count() == 0
        assert [m.id for m in db.session.query(Message).all()] == [kept_message]
        assert {k.message_id for k in db.session.query(MessageKey).all()} == {kept_message}
        assert [b.id for b in db.session.query(Blob).all()] == [kept_blob]
    assert blob_files(app) == [kept_blob]
    assert bob.get(f"/api/blobs/{kept_blob}").status_code == 200


# --- promote ---------------------------------------------------------------------------


def test_admin_promotes_a_member(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    response = alice.post(f"/api/groups/{group['id']}/admins", json={"user": bob.id})
    assert response.status_code == 200
    assert roles(response.get_json()["group"]) == \
        [(alice.id, "admin"), (bob.id, "admin"), (carol.id, "member")]
    assert group_of(bob, group["id"])["my_role"] == "admin"


def test_promoting_an_admin_changes_nothing(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    response = alice.post(f"/api/groups/{group['id']}/admins", json={"user": alice.id})
    assert response.status_code == 200 and response.get_json()["group"] == group


def test_only_an_admin_promotes(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    error(bob.post(f"/api/groups/{group['id']}/admins", json={"user": carol.id}),
          403, "forbidden")
    error(bob.post(f"/api/groups/{group['id']}/admins", json={"user": bob.id}),
          403, "forbidden")
    assert roles(group_of(alice, group["id"]))[1:] == [(bob.id, "member"), (carol.id, "member")]


def test_promoting_a_non_member_is_not_found(people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    error(alice.post(f"/api/groups/{group['id']}/admins", json={"user": carol.id}),
          404, "not_found")


@pytest.mark.parametrize("body", [{}, {"user": "3"}, {"user": None}, {"user": -1}])
def test_promote_refuses_other_shapes(people, body):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    error(alice.post(f"/api/groups/{group['id']}/admins", json=body), 400, "bad_request")


def test_group_routes_need_the_csrf_token(people):
    alice, bob, carol, eve = people
    response = alice.client.post("/api/groups", json={"members": []})
    assert response.status_code == 403
    assert alice.get("/api/groups").get_json()["groups"] == []


# --- keys of co-members and of former co-members' messages ------------------------------


def test_co_members_read_each_others_keys(people):
    alice, bob, carol, eve = people
    error(carol.get(f"/api/users/{bob.id}/keys"), 403, "forbidden")  # not friends
    create(alice, bob, carol)
    keys = carol.get(f"/api/users/{bob.id}/keys").get_json()["keys"]
    assert [k["id"] for k in keys] == [bob.key_id]
    error(eve.get(f"/api/users/{bob.id}/keys"), 403, "forbidden")
    error(eve.get("/api/users/9999/keys"), 404, "not_found")


def test_a_sender_of_a_wrapped_message_stays_readable_after_leaving(app, people, make_user):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    store_group_message(app, group["id"], bob, [alice, bob, carol])
    # bob leaves: carol shares no group with him any more, but holds a wrap from him
    bob.delete(f"/api/groups/{group['id']}/members/{bob.id}")
    assert carol.get(f"/api/users/{bob.id}/keys").status_code == 200
    # a member added after bob left holds no wrap from him
    dave = make_user("dave")
    alice.post("/api/friends", json={"username": "dave"})
    dave.post(f"/api/friends/{alice.id}/accept")
    alice.post(f"/api/groups/{group['id']}/members", json={"user": dave.id})
    error(dave.get(f"/api/users/{bob.id}/keys"), 403, "forbidden")
    assert dave.get(f"/api/users/{carol.id}/keys").status_code == 200


# --- group blobs -----------------------------------------------------------------------


def test_members_upload_and_download_group_blobs(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    response = upload(bob, f"group={group['id']}", 300)
    assert response.status_code == 201
    blob = response.get_json()["blob"]
    for member in (alice, bob, carol):
        got = member.get(f"/api/blobs/{blob}")
        assert got.status_code == 200 and len(got.data) == 300
    error(eve.get(f"/api/blobs/{blob}"), 403, "forbidden")


def test_group_blob_upload_is_for_members_only(app, people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    error(upload(eve, f"group={group['id']}"), 404, "not_found")
    error(upload(alice, "group=99999"), 404, "not_found")
    error(upload(alice, f"to={bob.id}&group={group['id']}"), 400, "bad_request")
    error(upload(alice, "group=abc"), 400, "bad_request")
    error(upload(alice, ""), 400, "bad_request")
    with app.app_context():
        assert db.session.query(Blob).count() == 0
    assert blob_files(app) == []


def test_a_former_member_cannot_download_group_blobs(people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    blob = upload(carol, f"group={group['id']}").get_json()["blob"]
    alice.delete(f"/api/groups/{group['id']}/members/{carol.id}")  # removed: the uploader too
    error(carol.get(f"/api/blobs/{blob}"), 403, "forbidden")
    bob.delete(f"/api/groups/{group['id']}/members/{bob.id}")  # left
    error(bob.get(f"/api/blobs/{blob}"), 403, "forbidden")
    assert alice.get(f"/api/blobs/{blob}").status_code == 200


def test_pair_blobs_still_follow_the_pair(people):
    alice, bob, carol, eve = people
    create(alice, bob, carol)
    blob = upload(alice, f"to={bob.id}").get_json()["blob"]
    assert bob.get(f"/api/blobs/{blob}").status_code == 200
    error(carol.get(f"/api/blobs/{blob}"), 403, "forbidden")  # a co-member, not of the pair


def test_collection_keeps_group_blobs_of_existing_groups(app, people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    blob = upload(bob, f"group={group['id']}").get_json()["blob"]
    alice.delete(f"/api/friends/{bob.id}")  # friendship ending changes no membership
    with app.app_context():
        counts = collector.collect(grace_seconds=0)
    assert counts == {"unreadable": 0, "rows_without_file": 0, "files_without_row": 0}
    assert bob.get(f"/api/blobs/{blob}").status_code == 200
    assert [m["id"] for m in group_of(bob, group["id"])["members"]] == [alice.id, bob.id]


def test_collection_drops_a_group_blob_row_whose_file_is_lost(app, people):
    alice, bob, carol, eve = people
    group = create(alice, bob)
    blob = upload(bob, f"group={group['id']}").get_json()["blob"]
    next(Path(app.config["BLOB_DIR"]).rglob(blob)).unlink()
    with app.app_context():
        assert collector.collect()["rows_without_file"] == 1
        assert db.session.get(Blob, blob) is None


# --- account deletion ------------------------------------------------------------------


def test_deleting_an_account_leaves_every_group_with_succession(app, people):
    alice, bob, carol, eve = people
    shared = create(alice, carol, bob)
    alone = create(alice)
    blob = upload(alice, f"group={alone['id']}").get_json()["blob"]
    kept = upload(carol, f"group={shared['id']}").get_json()["blob"]
    with app.app_context():
        admin.delete_user("alice")
    assert roles(group_of(bob, shared["id"])) == [(bob.id, "admin"), (carol.id, "member")]
    assert group_of(bob, shared["id"])["created_by"] == alice.id
    with app.app_context():
        assert db.session.get(Group, alone["id"]) is None
        assert db.session.get(Blob, blob) is None
        assert db.session.query(GroupMember).filter_by(user_id=alice.id).count() == 0
    assert blob_files(app) == [kept]


def test_deleting_an_account_removes_its_group_messages_and_uploads(app, people):
    alice, bob, carol, eve = people
    group = create(alice, bob, carol)
    store_group_message(app, group["id"], bob, [alice, bob, carol])
    kept = store_group_message(app, group["id"], alice, [alice, carol])
    upload(bob, f"group={group['id']}")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "delete", "bob", "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert [m.id for m in db.session.query(Message).all()] == [kept]
        assert {(k.message_id, k.user_id) for k in db.session.query(MessageKey).all()} == \
            {(kept, alice.id), (kept, carol.id)}
        assert db.session.query(Blob).count() == 0
    assert blob_files(app) == []
    assert [m["id"] for m in group_of(carol, group["id"])["members"]] == [alice.id, carol.id]
