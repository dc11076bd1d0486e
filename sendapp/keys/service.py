"""Public identity keys: one current key per user; a new key warns every friend and co-member."""
from flask_babel import gettext as _

from .. import notify
from ..crypto import key_id as compute_key_id
from ..errors import ApiError
from ..extensions import db
from ..friends import service as friends
from ..groups.membership import co_member_ids, share_a_group
from ..models import IdentityKey, Message, MessageKey, User
from ..validation import public_key_bytes


def add_key(user, public_key):
    """Make `public_key` the user's current key; keep older keys for old messages.

    The caller commits, then calls announce_key_change.
    """
    raw = public_key_bytes(public_key)
    kid = compute_key_id(raw)
    existing = next((key for key in user.keys if key.key_id == kid), None)
    for key in user.keys:
        key.current = False
    if existing is not None:
        existing.current = True
        return existing
    key = IdentityKey(user_id=user.id, key_id=kid, public_key=public_key, current=True)
    user.keys.append(key)
    return key


def announce_key_change(user_id):
    """Tell every friend and co-member (PROTOCOL §8, §9.5 key_changed) and the user's own
    other devices, each once."""
    for other_id in sorted(set(friends.friend_ids(user_id)) | co_member_ids(user_id)):
        notify.to_user(other_id, "key_changed", {"user": user_id})
    notify.to_user(user_id, "key_changed", {"user": user_id})


def key_json(key):
    return {"id": key.key_id, "public_key": key.public_key, "created": key.created,
            "current": key.current}


def may_read_keys(viewer_id, user_id):
    """Self, a friend, a co-member, or the sender of a stored group message wrapped for the
    viewer (PROTOCOL §9.1: a new device can still read what a former co-member sent)."""
    return (user_id == viewer_id or friends.are_friends(viewer_id, user_id)
            or share_a_group(viewer_id, user_id) or _sent_a_wrap_to(user_id, viewer_id))


def _sent_a_wrap_to(sender_id, viewer_id):
    return db.session.execute(
        db.select(MessageKey.message_id)
        .join(Message, Message.id == MessageKey.message_id)
        .where(MessageKey.user_id == viewer_id, Message.sender_id == sender_id).limit(1)
    ).first() is not None


def keys_visible_to(viewer_id, user_id):
    """Keys of a user the viewer may read them of; 404 for no such user, 403 for anyone else."""
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError("not_found", _("no such user"))
    if not may_read_keys(viewer_id, user_id):
        raise ApiError("forbidden", _("you can only read the keys of your friends, the members "
                                      "of your groups and the senders of your group messages"))
    return [key_json(key) for key in user.keys]


def key_belongs_to(user_id, kid):
    """True when `kid` names one of the user's keys (current or older)."""
    return db.session.execute(
        db.select(IdentityKey.id).filter_by(user_id=user_id, key_id=kid)
    ).first() is not None
