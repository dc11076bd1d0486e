"""Server-side login sessions: the cookie names a row, so logout and admin actions revoke it.

A session is live while its row exists, its user is enabled, it is younger than
SESSION_MAX_AGE and was used within SESSION_IDLE (`live_conditions`, the one rule that
requests, socket events and the socket watch in `revocation` all apply).
"""
import hashlib
import logging
import secrets

from flask import current_app, jsonify, redirect, request, session, url_for
from flask_babel import gettext
from flask_login import login_user, logout_user
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..models import LoginSession, User, now_ms
from .user_agent import summarise

log = logging.getLogger(__name__)
TOUCH_EVERY_MS = 60_000  # write last_seen at most about once a minute per session


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def token_hash(session_value):
    """The stored hash of a "<user id>:<token>" session value (None when malformed)."""
    _user_id, _, token = (session_value or "").partition(":")
    return _hash(token) if token else None


def live_conditions(now=None):
    """SQL conditions (on LoginSession joined to User) of a session that is still valid."""
    now = now_ms() if now is None else now
    config = current_app.config
    return (
        User.disabled.is_(False),
        LoginSession.created > now - config["SESSION_MAX_AGE"] * 1000,
        LoginSession.last_seen > now - config["SESSION_IDLE"] * 1000,
    )


def touch_interval_ms():
    """About once a minute, more often when the idle lifetime is short (tests)."""
    return min(TOUCH_EVERY_MS, current_app.config["SESSION_IDLE"] * 1000 // 4)


def load_user(session_value):
    """Resolve "<user id>:<token>" to an enabled user whose session row is still live."""
    user_id, _, token = (session_value or "").partition(":")
    if not user_id.isdigit() or not token:
        return None
    now = now_ms()
    # One query: this runs for every request and every socket event.
    row = db.session.execute(
        db.select(User, LoginSession.id, LoginSession.last_seen)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.token_hash == _hash(token), User.id == int(user_id),
               *live_conditions(now))
    ).one_or_none()
    if row is None:
        return None
    user, session_id, last_seen = row
    if now - last_seen >= touch_interval_ms():
        _touch(session_id, now)
    user.session_key = session_value
    return user


def _touch(session_id, now):
    """Record use of a session (idle lifetime); a busy database only delays it.

    Skipped while the request has unsaved changes of its own, which this commit (or a
    rollback) must never carry along; the next request records the use instead.
    """
    if db.session.new or db.session.dirty or db.session.deleted:
        return
    _record_use(LoginSession.id == session_id, now)


def _record_use(which, now):
    try:
        db.session.execute(db.update(LoginSession).where(which).values(last_seen=now))
        db.session.commit()
    except OperationalError as error:
        db.session.rollback()
        log.info("could not record session use: %s", error.__class__.__name__)


def touch_tokens(token_hashes, now):
    """Record use of the sessions with these token hashes (sockets, from the socket watch)."""
    _record_use(LoginSession.token_hash.in_(token_hashes), now)


def _unauthorized():
    if request.path.startswith("/api/"):
        response = jsonify({"error": "unauthorized", "message": gettext("log in first")})
        response.status_code = 401
        return response
    return redirect(url_for("pages.login"))


def configure_login_manager(manager):
    manager.user_loader(load_user)
    manager.unauthorized_handler(_unauthorized)
    manager.session_protection = None  # the session row is the protection; IPs change on phones


def start(user):
    """Rotate the cookie session and bind it to a fresh server-side session row."""
    token = secrets.token_urlsafe(32)
    now = now_ms()
    _drop_expired(user.id, now)
    device = summarise(request.headers.get("User-Agent"))  # never the raw header
    db.session.add(LoginSession(user_id=user.id, token_hash=_hash(token), created=now,
                                last_seen=now, device=device))
    db.session.commit()
    session.clear()
    user.session_key = f"{user.id}:{token}"
    login_user(user)
    session.permanent = True


def _drop_expired(user_id, now):
    """Delete a user's sessions that can no longer be used (keeps the table small)."""
    config = current_app.config
    db.session.execute(db.delete(LoginSession).where(
        LoginSession.user_id == user_id,
        (LoginSession.created <= now - config["SESSION_MAX_AGE"] * 1000)
        | (LoginSession.last_seen <= now - config["SESSION_IDLE"] * 1000)))


def end(user):
    """Delete this session's row and clear the cookie."""
    _user_id, _, token = (user.session_key or "").partition(":")
    if token:
        db.session.execute(
            db.delete(LoginSession).where(LoginSession.token_hash == _hash(token))
        )
        db.session.commit()
    logout_user()
    session.clear()


def revoke_all(user_id):
    """Log a user out everywhere (disable, reset, delete)."""
    db.session.execute(db.delete(LoginSession).where(LoginSession.user_id == user_id))


def revoke_others(user):
    """Keep only the caller's session (after a password change)."""
    _user_id, _, token = (user.session_key or "").partition(":")
    db.session.execute(
        db.delete(LoginSession).where(
            LoginSession.user_id == user.id, LoginSession.token_hash != _hash(token)
        )
    )
