"""Socket.IO connection life: refuse anonymous sockets, join rooms, presence, per-event guard."""
import logging
from typing import NamedTuple

from flask import current_app, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room
from limits import parse_many

from . import notify, presence, socket_limits
from .auth import revocation
from .errors import ApiError, transient_refusal
from .extensions import db, socketio
from .friends import service as friends
from .i18n.choice import forget_socket_language, remember_socket_language, speak_as_socket
from .rooms import pair_room, user_room

log = logging.getLogger(__name__)


def _limiter():
    """One moving-window limiter per app, on Flask-Limiter's storage URI (socket_limits:
    counted in this process for memory://)."""
    ext = current_app.extensions.setdefault("sendapp_socket_limiter", {})
    if "limiter" not in ext:
        ext["limiter"] = socket_limits.limiter_for(current_app.config["RATELIMIT_STORAGE_URI"])
        ext["limits"] = parse_many(current_app.config["RATELIMIT_SOCKET"])
    return ext["limiter"], ext["limits"]


def _within_rate(user_id):
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    limiter, limits = _limiter()
    user = str(user_id)
    for limit in limits:
        if not limiter.hit(limit, "socket", user):
            return False
    return True


class Caller(NamedTuple):
    """Who sent an event: the socket's user (authenticated at connect) and the socket."""

    user_id: int
    sid: str


_EVENTS = {}


def socket_event(name):
    """Declare a guarded client → server event; `handler(caller, data=None)` returns the ack.

    The guard: a watched session (no database read, see `auth.revocation`), the rate limit,
    and ApiError → `{ok: false}` ack. `bind_events` registers the handlers on the app's
    server once it exists.
    """

    def register(handler):
        _EVENTS[name] = handler
        return handler

    return register


def bind_events(app, server):
    """Register every `socket_event` handler directly on python-socketio's server.

    Not through Flask-SocketIO's `on`, which runs each event inside a Flask request context:
    URL matching and the cookie session decoded and checked again, a sixth of the server's
    CPU per message (docs/BENCHMARKS.md). These handlers need the app context and the sid only.
    """
    for name, handler in _EVENTS.items():
        server.on(name, _guarded(app, handler), namespace="/")


def _guarded(app, handler):
    def guarded(sid, *args):
        with app.app_context():
            speak_as_socket(sid)  # refusals in the socket's language
            try:
                user_id = revocation.socket_user(sid)
                if user_id is None:
                    raise ApiError("unauthorized", _("your session has ended; log in again"))
                if not _within_rate(user_id):
                    raise ApiError("rate_limited", _("too many events; slow down"))
                return handler(Caller(user_id, sid), *args)
            except ApiError as error:
                db.session.rollback()
                return error.as_ack()
            except Exception as error:
                db.session.rollback()  # whatever was half-written is not kept
                refusal = transient_refusal(error, f"socket event {handler.__name__}")
                if refusal is not None:
                    return refusal.as_ack()
                log.exception("socket event %s failed", handler.__name__)
                return ApiError("retry",
                                _("internal error; nothing was stored, try again")).as_ack()

    guarded.__name__ = handler.__name__
    return guarded


@socketio.on("connect")
def on_connect(auth=None):
    """Any client. Refuse anonymous sockets; join user, session and pair rooms; presence."""
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("unauthorized")
    user_id = current_user.id
    revocation.track(request.sid, current_user.session_key, user_id)
    remember_socket_language(request.sid)
    join_room(user_room(user_id))
    friend_ids = friends.friend_ids(user_id)
    for friend_id in friend_ids:
        join_room(pair_room(user_id, friend_id))
    db.session.remove()
    if presence.connected(user_id, request.sid):
        notify.presence(user_id, True, friend_ids)


@socketio.on("disconnect")
def on_disconnect(reason=None):
    """Any client. The last socket of a user going away makes them offline for friends."""
    revocation.forget(request.sid)
    forget_socket_language(request.sid)
    user_id = _socket_user_id()
    if user_id is None:
        return
    if presence.disconnected(user_id, request.sid):
        try:
            friend_ids = friends.friend_ids(user_id)
        finally:
            db.session.remove()
        notify.presence(user_id, False, friend_ids)


def _socket_user_id():
    """The user id of this socket, even when its session was revoked meanwhile."""
    user_id = (session.get("_user_id") or "").partition(":")[0]
    return int(user_id) if user_id.isdigit() else None
