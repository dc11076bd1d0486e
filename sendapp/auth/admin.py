"""Administrator actions behind the `flask users` commands; plain functions tests call directly."""
from flask import current_app
from sqlalchemy import or_

from .. import crypto
from ..blobs import storage
from ..errors import ApiError
from ..extensions import db
from ..friends import service as friends
from ..keys.service import announce_key_change
from ..groups import service as groups
from ..models import (Blob, Friendship, IdentityKey, LoginSession, Message, MessageKey,
                      ReadMarker, User)
from ..validation import normalise_username
from . import revocation, service, sessions

MIN_PASSWORD_CHARS = 8


def _auth_for(username, password, iterations):
    """Derive `auth` exactly as the browser does (PROTOCOL §2)."""
    password = crypto.normalise_password(password)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ApiError("bad_request", f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    return crypto.derive_account_secrets(username, password, iterations).auth


def get_user(username_raw):
    """The user of that name, or ApiError not_found."""
    user = service.find_user(normalise_username(username_raw))
    if user is None:
        raise ApiError("not_found", f"no user named {username_raw!r}")
    return user


def create_user(username_raw, password):
    """An account without keys: the first browser login creates its key pair and vault."""
    username = normalise_username(username_raw)
    if service.find_user(username) is not None:
        raise ApiError("conflict", f"the username {username!r} is taken")
    iterations = current_app.config["KDF_ITERATIONS"]
    user = User(username=username, kdf_iterations=iterations,
                auth_hash=service.hash_auth(_auth_for(username, password, iterations)))
    db.session.add(user)
    db.session.commit()
    return user


def list_users():
    return db.session.execute(db.select(User).order_by(User.id)).scalars().all()


def set_disabled(username_raw, disabled):
    """Disable (and log out everywhere) or enable an account."""
    user = get_user(username_raw)
    user.disabled = disabled
    if disabled:
        sessions.revoke_all(user.id)
    db.session.commit()
    revocation.sweep()
    return user


def reset_password(username_raw, password):
    """Set a new password. The vault cannot be recovered: it is dropped and the user gets a
    new key pair at the next login; old public keys stay so friends can still read history."""
    user = get_user(username_raw)
    user.auth_hash = service.hash_auth(_auth_for(user.username, password, user.kdf_iterations))
    user.vault = None
    for key in user.keys:
        key.current = False
    sessions.revoke_all(user.id)
    db.session.commit()
    revocation.sweep()
    announce_key_change(user.id)
    return user


def delete_user(username_raw):
    """Delete the named account (`flask users delete`): see delete_account."""
    return delete_account(get_user(username_raw))


def delete_account(user):
    """Remove an account with its keys, friendships, messages and attachments; it leaves
    every group first (PROTOCOL §9.1: succession, or deletion of a group it was alone in).
    Its sockets close now in this process, within REVOCATION_INTERVAL in others; its former
    friends' clients are told their list changed. The one deletion path: the CLI and the
    user's own "Delete my account" both end here."""
    user_id = user.id
    departures = groups.leave_all(user_id)  # first: it takes the writers' lock
    related = friends.related_ids(user_id)
    owned_blobs = or_(Blob.lo_id == user_id, Blob.hi_id == user_id, Blob.uploader_id == user_id)
    blob_ids = db.session.execute(db.select(Blob.id).where(owned_blobs)).scalars().all()
    sent = db.select(Message.id).where(Message.sender_id == user_id)
    for model, condition in (
        (MessageKey, or_(MessageKey.user_id == user_id, MessageKey.message_id.in_(sent))),
        (Message, or_(Message.sender_id == user_id, Message.recipient_id == user_id)),
        (ReadMarker, or_(ReadMarker.user_id == user_id, ReadMarker.friend_id == user_id)),
        (Blob, owned_blobs),
        (Friendship, or_(Friendship.lo_id == user_id, Friendship.hi_id == user_id)),
        (LoginSession, LoginSession.user_id == user_id),
        (IdentityKey, IdentityKey.user_id == user_id),
    ):
        db.session.execute(db.delete(model).where(condition))
    db.session.delete(user)
    db.session.commit()
    revocation.sweep()
    departures.publish()
    friends.announce_gone(user_id, related)
    for blob_id in blob_ids:
        storage.delete(blob_id)
    return user_id
