"""My devices: the user's own live sessions, each named by the short summary of its browser
that `user_agent.summarise` made at login. Every function here acts on the caller's own
sessions only; another user's session id is "not found", so ids reveal nothing.
"""
from flask_babel import gettext as _

from ..errors import ApiError
from ..extensions import db
from ..models import LoginSession, User
from . import revocation, sessions, user_agent


def _current_hash(user):
    return sessions.token_hash(user.session_key)


def session_json(row, current_hash):
    """One entry of GET /api/me/sessions."""
    return {
        "id": row.id,
        "device": user_agent.shown(row.device),
        "created": row.created,
        "last_seen": row.last_seen,
        "current": row.token_hash == current_hash,
    }


def list_sessions(user):
    """The caller's live sessions, this one first, then the most recently used."""
    rows = db.session.execute(
        db.select(LoginSession).join(User, User.id == LoginSession.user_id)
        .where(LoginSession.user_id == user.id, *sessions.live_conditions())
        .order_by(LoginSession.last_seen.desc(), LoginSession.id.desc())
    ).scalars().all()
    current = _current_hash(user)
    rows.sort(key=lambda row: row.token_hash != current)  # stable: the rest keep their order
    return [session_json(row, current) for row in rows]


def end_session(user, session_id):
    """Sign out one of the caller's sessions; its sockets close now (here) or within
    REVOCATION_INTERVAL (other processes). Answers whether it was the caller's own session."""
    row = db.session.execute(
        db.select(LoginSession).where(LoginSession.id == session_id,
                                      LoginSession.user_id == user.id)
    ).scalar_one_or_none()
    if row is None:
        raise ApiError("not_found", _("no such session among yours"))
    if row.token_hash == _current_hash(user):
        sessions.end(user)  # the same as logging out here
        revocation.sweep()
        return True
    db.session.delete(row)
    db.session.commit()
    revocation.sweep()
    return False


def end_other_sessions(user):
    """Sign out every session of the caller but this one; answers how many live ones ended
    (rows already past their lifetime go too, uncounted)."""
    ended = db.session.execute(
        db.select(db.func.count()).select_from(LoginSession)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.user_id == user.id,
               LoginSession.token_hash != _current_hash(user), *sessions.live_conditions())
    ).scalar_one()
    sessions.revoke_others(user)
    db.session.commit()
    revocation.sweep()
    return ended
