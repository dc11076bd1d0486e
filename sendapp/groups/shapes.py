"""The `group` and `member` objects of PROTOCOL §9.2, as one given user sees them.

Everything a group object holds is the same for every member except `my_role`, so the
members are read once per group (one query for any number of groups) and each viewer's
copy only sets its own role: a change announced to 64 members reads the group once.
"""
from ..extensions import db
from ..models import Group, GroupMember, IdentityKey, User


def _member_json(row, username, key_id):
    return {"id": row.user_id, "username": username, "role": row.role, "added": row.added,
            "added_by": row.added_by, "key_id": key_id, "read_up_to": row.read_up_to}


def load(group_ids):
    """{group id: group object without `my_role`} for those of `group_ids` that exist;
    members oldest first (§9.1), each with its current key id or null."""
    group_ids = list(group_ids)
    if not group_ids:
        return {}
    groups = {g.id: {"id": g.id, "created": g.created, "created_by": g.created_by,
                     "members": []}
              for g in db.session.execute(
                  db.select(Group).where(Group.id.in_(group_ids))).scalars()}
    rows = db.session.execute(
        db.select(GroupMember, User.username, IdentityKey.key_id)
        .join(User, User.id == GroupMember.user_id)
        .outerjoin(IdentityKey, (IdentityKey.user_id == GroupMember.user_id)
                   & IdentityKey.current.is_(True))
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(GroupMember.group_id, GroupMember.added, GroupMember.user_id)
    ).all()
    for row, username, key_id in rows:
        if row.group_id in groups:
            groups[row.group_id]["members"].append(_member_json(row, username, key_id))
    return groups


def seen_by(group, viewer_id):
    """The group object as `viewer_id` sees it (its own `my_role`), or None for a viewer who
    is not a member (or a group that no longer exists)."""
    if group is None:
        return None
    role = next((m["role"] for m in group["members"] if m["id"] == viewer_id), None)
    if role is None:
        return None
    return {**group, "my_role": role}


def group_json(group_id, viewer_id):
    """One group as the viewer sees it (None if the viewer is not a member)."""
    return seen_by(load([group_id]).get(group_id), viewer_id)


def groups_of(viewer_id):
    """Every group of the viewer, ascending id, as the viewer sees them (GET /api/groups)."""
    ids = db.session.execute(
        db.select(GroupMember.group_id).where(GroupMember.user_id == viewer_id)
        .order_by(GroupMember.group_id)
    ).scalars().all()
    loaded = load(ids)
    return [seen_by(loaded[gid], viewer_id) for gid in ids if gid in loaded]
