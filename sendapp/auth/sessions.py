"""Server-side login sessions: the cookie names a row, so logout and admin actions revoke it."""
import hashlib
import secrets

from flask import jsonify, redirect, request, session, url_for
from flask_login import login_user, logout_user

from ..extensions import db
from ..models import LoginSession, User


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def load_user(session_value):
    """Resolve "<user id>:<token>" to an enabled user whose session row still exists."""
    user_id, _, token = (session_value or "").partition(":")
    if not user_id.isdigit() or not token:
        return None
    # One query: this runs for every request and every socket event.
    user = db.session.execute(
        db.select(User).join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.token_hash == _hash(token), User.id == int(user_id),
               User.disabled.is_(False))
    ).scalar_one_or_none()
    if user is None:
        return None
    user.session_key = session_value
    return user


def _unauthorized():
    if request.path.startswith("/api/"):
        response = jsonify({"error": "unauthorized", "message": "log in first"})
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
    db.session.add(LoginSession(user_id=user.id, token_hash=_hash(token)))
    db.session.commit()
    session.clear()
    user.session_key = f"{user.id}:{token}"
    login_user(user)
    session.permanent = True


def current_session_room():
    """Socket.IO room of the sockets opened by this login session (to close on logout)."""
    key = session.get("_user_id") or ""
    return "session:" + _hash(key)


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
