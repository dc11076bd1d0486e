"""Changes to group membership (PROTOCOL §9.1): create, add, remove, leave, promote, and
what follows a departure (succession, deletion of an emptied group).

Every change is one transaction that first calls `serialize_with_writes`: the message
writer checks membership inside the same lock, so a group message is stored against the
membership from before a change or from after it, never a mix. The `group` events (§9.5)
and the removal of an emptied group's blob files follow the commit (`Changes.publish`).
Reads of membership live in `membership.py`; the JSON shapes in `shapes.py`.
"""
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func

from .. import notify
from ..blobs import storage
from ..chat.writer import hold_write_order
from ..errors import ApiError
from ..extensions import db
from ..friends.service import are_friends, friend_ids
from ..models import Blob, Group, GroupMember, IdentityKey, Message, MessageKey, now_ms
from ..validation import MAX_ROW_ID
from . import shapes
from .membership import member_ids, membership, require_member

ADMIN, MEMBER = "admin", "member"


def serialize_with_writes():
    """Begin a membership change: on PostgreSQL, wait for the message writers' order lock,
    held until this transaction ends. Call it before the change reads anything it decides
    on. SQLite needs nothing: its one write lock already puts writers in a line.

    Rows loaded before (a route's own membership check) are expired, so every rule below
    reads the database as it is once the lock is held, not the session's earlier copies.
    """
    hold_write_order(db.session.connection())
    db.session.expire_all()


def max_members():
    """Members a group may have, creator included (§9.1, SENDAPP_GROUP_MAX_MEMBERS)."""
    return current_app.config["GROUP_MAX_MEMBERS"]


@dataclass
class Changes:
    """What one membership transaction did, announced once it is committed."""

    events: list = field(default_factory=list)  # (group id, change, user, by, recipients)
    blob_files: list = field(default_factory=list)  # of deleted groups, removed after commit

    def note(self, group_id, change, user_id, by, recipients):
        self.events.append((group_id, change, user_id, by, list(recipients)))

    def publish(self):
        """After the commit: remove deleted groups' blob files, then send each recipient
        `group {id, change, user, by, group}` with the group as it sees it now (§9.5)."""
        for blob_id in self.blob_files:
            storage.delete(blob_id)
        groups = shapes.load({event[0] for event in self.events})
        for group_id, change, user_id, by, recipients in self.events:
            group = groups.get(group_id)
            for recipient in recipients:
                notify.to_user(recipient, "group", {
                    "id": group_id, "change": change, "user": user_id, "by": by,
                    "group": shapes.seen_by(group, recipient)})


def _commit(changes):
    db.session.commit()
    changes.publish()


def _require_admin(row):
    if row.role != ADMIN:
        raise ApiError("forbidden", _("only an admin of this group can do this"))


def _has_current_key(user_ids):
    """The ones of `user_ids` who have a current key (§9.1: needed to be added)."""
    return set(db.session.execute(
        db.select(IdentityKey.user_id).where(IdentityKey.user_id.in_(list(user_ids)),
                                             IdentityKey.current.is_(True))
    ).scalars())


def _creation_list(raw, creator_id):
    """`members` of POST /api/groups: distinct user ids, not the creator, at most
    max_members - 1 (§9.2); anything else is `bad_request`."""
    if not isinstance(raw, list):
        raise ApiError("bad_request", _("members must be an array of user ids"))
    if len(raw) > max_members() - 1:
        raise ApiError("bad_request", ngettext(
            "a group has at most %(most)d members, you included: name at most %(num)d other",
            "a group has at most %(most)d members, you included: name at most %(num)d others",
            max_members() - 1, most=max_members()))
    seen = set()
    for index, value in enumerate(raw):
        where = f"members[{index}]"
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError("bad_request", _("%(field)s must be an integer user id", field=where))
        if not 1 <= value <= MAX_ROW_ID:
            raise ApiError("bad_request", _("%(field)s is out of range", field=where))
        if value == creator_id:
            raise ApiError("bad_request",
                           _("do not list yourself: the creator is always a member"))
        if value in seen:
            raise ApiError("bad_request", _("user %(user)s is listed twice", user=value))
        seen.add(value)
    return list(raw)


def create(creator_id, raw_members):
    """Create a group with the caller as its first admin and `raw_members` as members added
    by the caller; answers the new group's id. Nothing is created on any refusal."""
    members = _creation_list(raw_members, creator_id)
    serialize_with_writes()
    friends = set(friend_ids(creator_id))
    stranger = next((m for m in members if m not in friends), None)
    if stranger is not None:
        raise ApiError("forbidden", _("not_friends: user %(user)s is not your friend; you can "
                                      "only add friends to a group", user=stranger))
    with_key = _has_current_key(members)
    keyless = next((m for m in members if m not in with_key), None)
    if keyless is not None:
        raise ApiError("conflict", _("user %(user)s has no key yet: they must log in once in a "
                                     "browser before they can join a group", user=keyless))
    created = now_ms()
    group = Group(created_by=creator_id, created=created)
    db.session.add(group)
    db.session.flush()  # the id
    db.session.add(GroupMember(group_id=group.id, user_id=creator_id, role=ADMIN,
                               added_by=creator_id, added=created, read_up_to=0))
    for user_id in members:
        db.session.add(GroupMember(group_id=group.id, user_id=user_id, role=MEMBER,
                                   added_by=creator_id, added=created, read_up_to=0))
    changes = Changes()
    changes.note(group.id, "created", creator_id, creator_id, [creator_id, *members])
    group_id = group.id
    _commit(changes)
    return group_id


def add(admin_id, group_id, user_id):
    """An admin adds a friend who has a current key, while the group has room (§9.1)."""
    serialize_with_writes()
    _require_admin(require_member(admin_id, group_id))
    if membership(group_id, user_id) is not None:
        raise ApiError("conflict", _("user %(user)s is already a member of this group",
                                     user=user_id))
    if not are_friends(admin_id, user_id):
        raise ApiError("forbidden", _("not_friends: user %(user)s is not your friend; you can "
                                      "only add friends to a group", user=user_id))
    if not _has_current_key([user_id]):
        raise ApiError("conflict", _("user %(user)s has no key yet: they must log in once in a "
                                     "browser before they can join a group", user=user_id))
    count = db.session.execute(
        db.select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group_id)
    ).scalar()
    if count >= max_members():
        raise ApiError("conflict", ngettext(
            "the group is full: it has %(num)d member, the most a group can have",
            "the group is full: it has %(num)d members, the most a group can have", count))
    db.session.add(GroupMember(group_id=group_id, user_id=user_id, role=MEMBER,
                               added_by=admin_id, added=now_ms(), read_up_to=0))
    db.session.flush()
    changes = Changes()
    changes.note(group_id, "added", user_id, admin_id, member_ids(group_id))
    _commit(changes)


def _require_target(group_id, user_id):
    row = membership(group_id, user_id)
    if row is None:
        raise ApiError("not_found", _("user %(user)s is not a member of this group",
                                      user=user_id))
    return row


def remove(admin_id, group_id, user_id):
    """An admin removes another member (an admin too: there is no demotion, but removal)."""
    serialize_with_writes()
    _require_admin(require_member(admin_id, group_id))
    target = _require_target(group_id, user_id)
    changes = Changes()
    _depart(changes, target, "removed", admin_id)
    _commit(changes)


def leave(user_id, group_id):
    """Any member leaves: succession if it was the last admin, deletion if the last member."""
    serialize_with_writes()
    row = require_member(user_id, group_id)
    changes = Changes()
    _depart(changes, row, "left", user_id)
    _commit(changes)


def promote(admin_id, group_id, user_id):
    """An admin makes a member an admin; an admin already changes nothing and emits nothing."""
    serialize_with_writes()
    _require_admin(require_member(admin_id, group_id))
    target = _require_target(group_id, user_id)
    changes = Changes()
    if target.role != ADMIN:
        target.role = ADMIN
        db.session.flush()
        changes.note(group_id, "promoted", user_id, admin_id, member_ids(group_id))
    _commit(changes)


def leave_all(user_id):
    """Make a user leave every group, as account deletion does (§9.1): `left` with by=null,
    succession and deletion as for `leave`.

    Runs in the caller's transaction, so the account goes in the same commit; the caller
    commits, then calls `publish()` on the returned Changes.
    """
    serialize_with_writes()
    changes = Changes()
    rows = db.session.execute(
        db.select(GroupMember).where(GroupMember.user_id == user_id)
        .order_by(GroupMember.group_id)
    ).scalars().all()
    for row in rows:
        _depart(changes, row, "left", None)
    return changes


def _depart(changes, row, change, by):
    """Take `row`'s user out of its group. The last member's going deletes the group (the
    one event is `deleted`); the last admin's going makes the oldest remaining member admin
    at once (`promoted` with by=null, right after the departure)."""
    group_id, user_id, was_admin = row.group_id, row.user_id, row.role == ADMIN
    db.session.delete(row)
    db.session.flush()
    remaining = member_ids(group_id)
    if not remaining:
        changes.blob_files.extend(_delete_group(group_id))
        changes.note(group_id, "deleted", user_id, by, [user_id])
        return
    changes.note(group_id, change, user_id, by, [*remaining, user_id])
    if was_admin and not _has_admin(group_id):
        heir = membership(group_id, remaining[0])
        heir.role = ADMIN
        db.session.flush()
        changes.note(group_id, "promoted", heir.user_id, None, remaining)


def _has_admin(group_id):
    return db.session.execute(
        db.select(GroupMember.user_id).where(GroupMember.group_id == group_id,
                                             GroupMember.role == ADMIN).limit(1)
    ).first() is not None


def _delete_group(group_id):
    """Delete a group with its messages, wraps, read markers (the member rows) and blob rows;
    answers the blob ids, whose files go once this is committed."""
    blob_ids = db.session.execute(
        db.select(Blob.id).where(Blob.group_id == group_id)).scalars().all()
    group_messages = db.select(Message.id).where(Message.group_id == group_id)
    for statement in (
        db.delete(MessageKey).where(MessageKey.message_id.in_(group_messages)),
        db.delete(Message).where(Message.group_id == group_id),
        db.delete(Blob).where(Blob.group_id == group_id),
        db.delete(GroupMember).where(GroupMember.group_id == group_id),
        db.delete(Group).where(Group.id == group_id),
    ):
        db.session.execute(statement, execution_options={"synchronize_session": False})
    return blob_ids
