"""Account rules: only a slow hash of `auth` is stored; unknown user and wrong auth look alike."""
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ApiError
from ..extensions import db
from ..keys import service as keys
from ..models import User
from ..validation import (normalise_username, public_key_bytes, require_int, require_str,
                          vault_json)
from . import revocation, sessions

HASH_METHOD = "scrypt"
# Verified against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = generate_password_hash("sendapp-no-such-user", method=HASH_METHOD)
MAX_AUTH_CHARS = 128


def hash_auth(auth):
    return generate_password_hash(require_str(auth, "auth", MAX_AUTH_CHARS), method=HASH_METHOD)


def find_user(username):
    return db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()


def register(body):
    """Create an account with its first key and vault (PROTOCOL §3, §7)."""
    username = normalise_username(body.get("username"))
    auth = require_str(body.get("auth"), "auth", MAX_AUTH_CHARS)
    iterations = require_int(body.get("iterations"), "iterations", minimum=1)
    if iterations != current_app.config["KDF_ITERATIONS"]:
        raise ApiError(
            "bad_request",
            _("iterations must be %(count)d (see /api/prelogin)",
              count=current_app.config["KDF_ITERATIONS"]),
        )
    vault = vault_json(body.get("vault"))
    public_key = body.get("public_key")
    public_key_bytes(public_key)
    if find_user(username) is not None:
        raise ApiError("conflict", _("that username is taken"))
    user = User(username=username, auth_hash=hash_auth(auth), kdf_iterations=iterations,
                vault=vault)
    db.session.add(user)
    db.session.flush()
    keys.add_key(user, public_key)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent registration of the same name won
        db.session.rollback()
        raise ApiError("conflict", _("that username is taken"))
    return user


def authenticate(username_raw, auth):
    """Return the user for a correct `auth`; one answer for every failure."""
    failure = ApiError("unauthorized", _("wrong username or password"))
    try:
        username = normalise_username(username_raw)
        auth = require_str(auth, "auth", MAX_AUTH_CHARS)
    except ApiError:
        check_password_hash(_DUMMY_HASH, "x")
        raise failure
    user = find_user(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, auth)
        raise failure
    if not check_password_hash(user.auth_hash, auth):
        raise failure
    if user.disabled:
        raise ApiError("forbidden", _("this account is disabled; ask the administrator"))
    return user


def require_password(user, body):
    """Check that the caller knows the password: `auth` of the body, derived as at login
    (PROTOCOL §2). A wrong one is `unauthorized`."""
    auth = require_str(body.get("auth"), "auth", MAX_AUTH_CHARS)
    if not check_password_hash(user.auth_hash, auth):
        raise ApiError("unauthorized", _("wrong password"))


def update_vault(user, body):
    """Store a re-encrypted vault; `new_auth` changes the password, `public_key` adds a key."""
    require_password(user, body)
    vault = vault_json(body.get("vault"))
    public_key = body.get("public_key")
    if public_key is not None:
        public_key_bytes(public_key)
    elif user.current_key is None:
        raise ApiError("bad_request", _("public_key is required: this account has no key yet"))
    new_auth = body.get("new_auth")
    if new_auth is not None:
        user.auth_hash = hash_auth(new_auth)
        sessions.revoke_others(user)
    user.vault = vault
    if public_key is not None:
        keys.add_key(user, public_key)
    db.session.commit()
    if new_auth is not None:
        revocation.sweep()  # this process's sockets of the other sessions close now
    if public_key is not None:
        keys.announce_key_change(user.id)
    return user


def user_json(user):
    """PROTOCOL §7 `user` shape."""
    key = user.current_key
    return {
        "id": user.id,
        "username": user.username,
        "created": user.created,
        "key_id": key.key_id if key else None,
    }


def prelogin(username_raw):
    """KDF parameters; the default for unknown names, so existence is not revealed."""
    iterations = current_app.config["KDF_ITERATIONS"]
    try:
        user = find_user(normalise_username(username_raw))
    except ApiError:
        user = None
    if user is not None:
        iterations = user.kdf_iterations
    return {"kdf": "pbkdf2-sha256", "iterations": iterations}
