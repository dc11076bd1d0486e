"""Public identity keys: one current key per user; a new key warns every friend."""
from .. import notify
from ..crypto import key_id as compute_key_id
from ..errors import ApiError
from ..extensions import db
from ..friends import service as friends
from ..models import IdentityKey, User
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
    """Tell every friend (PROTOCOL §8 key_changed) and the user's own other devices."""
    for friend_id in friends.friend_ids(user_id):
        notify.to_user(friend_id, "key_changed", {"user": user_id})
    notify.to_user(user_id, "key_changed", {"user": user_id})


def key_json(key):
    return {"id": key.key_id, "public_key": key.public_key, "created": key.created,
            "current": key.current}


def keys_visible_to(viewer_id, user_id):
    """Keys of self or of a friend; 404 for no such user, 403 for a stranger."""
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError("not_found", "no such user")
    if user_id != viewer_id and not friends.are_friends(viewer_id, user_id):
        raise ApiError("forbidden", "you can only read the keys of your friends")
    return [key_json(key) for key in user.keys]


def key_belongs_to(user_id, kid):
    """True when `kid` names one of the user's keys (current or older)."""
    return db.session.execute(
        db.select(IdentityKey.id).filter_by(user_id=user_id, key_id=kid)
    ).first() is not None
