"""Reads of group membership (PROTOCOL §9.1): the facts every group rule starts from.

Changes to membership (create, add, remove, leave, promote, succession) live in
`groups/service.py`; this module only answers "who is in", so the chat path can
ask it without importing the routes' logic.
"""
from flask_babel import gettext as _

from ..errors import ApiError
from ..extensions import db
from ..models import GroupMember
from ..validation import require_id


def _group_id(group_id):
    if isinstance(group_id, bool) or not isinstance(group_id, int):
        raise ApiError("bad_request", _("group must be an integer group id"))
    return require_id(group_id, "group")


def membership(group_id, user_id):
    """The user's GroupMember row in that group, or None."""
    return db.session.get(GroupMember, (group_id, user_id))


def is_member(group_id, user_id):
    return membership(group_id, user_id) is not None


def require_member(user_id, group_id):
    """Refuse anyone but a current member with 404 `not_found`, for an unknown group alike,
    so nobody can probe which groups exist (§9.2). Returns the caller's membership row."""
    row = membership(_group_id(group_id), user_id)
    if row is None:
        raise ApiError("not_found", _("no such group"))
    return row


def member_ids(group_id):
    """Current members, oldest first (ascending `added`, then user id: §9.1)."""
    return db.session.execute(
        db.select(GroupMember.user_id).where(GroupMember.group_id == group_id)
        .order_by(GroupMember.added, GroupMember.user_id)
    ).scalars().all()


def co_member_ids(user_id):
    """Everyone who shares at least one group with the user (the user excluded)."""
    mine = db.select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    return set(db.session.execute(
        db.select(GroupMember.user_id).where(GroupMember.group_id.in_(mine),
                                             GroupMember.user_id != user_id)
    ).scalars())


def share_a_group(a, b):
    mine = db.select(GroupMember.group_id).where(GroupMember.user_id == a)
    return db.session.execute(
        db.select(GroupMember.user_id).where(GroupMember.group_id.in_(mine),
                                             GroupMember.user_id == b).limit(1)
    ).first() is not None
