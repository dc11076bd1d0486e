"""Ended sessions lose their sockets within a second (up to 1,000 sessions), in every process.

The watch is also each socket's identity: a socket is authenticated once, at connect, and
its events are answered for the user recorded here (`socket_user`), with no database read.
That is safe because a socket whose session ends is closed by this watch, at once for
changes made in this process and within REVOCATION_INTERVAL for any other.

Whatever ends a session only changes the database: logout, a password change, `flask users
disable/reset-password/delete` (run in another process), the session's lifetime running out.
So each server process keeps a map of its own connected sockets to their session, and while it
has any, one background task checks them all in ONE query every REVOCATION_INTERVAL seconds and
disconnects those whose session is no longer live (`sessions.live_conditions`), after telling
them `signed_out`. That needs no message queue and reaches every process whichever one (or the
CLI) made the change. Paths that run inside a server process call `sweep()` to close at once.

Background work uses socketio.start_background_task/socketio.sleep only, so it runs as
greenthreads under eventlet (app.py) and as threads in threading mode (tests).
"""
import logging
import threading

from flask import current_app

from ..extensions import db, socketio
from ..models import LoginSession, User, now_ms
from . import sessions

log = logging.getLogger(__name__)

SIGNED_OUT = "signed_out"  # PROTOCOL §8: server → client, then the server disconnects
_EXTENSION = "sendapp_socket_watch"
_CHUNK = 500  # hashes per query: far below every database's parameter limit


class SocketWatch:
    """This process's sockets → (session token hash, user id), and the task that checks them."""

    def __init__(self, app):
        self.app = app
        self.sockets = {}
        self.used = set()  # token hashes of sessions whose sockets had events since the last sweep
        self.touched = {}  # token hash → when its last_seen was last written (ms)
        self.lock = threading.Lock()
        self.running = False
        self.turn = 0  # where the next rotating check starts, in the sorted session hashes

    def track(self, sid, token_hash, user_id):
        """Watch a socket's session; start the check task if it is not running."""
        with self.lock:
            self.sockets[sid] = (token_hash, user_id)
            start = not self.running
            self.running = True
        if start:
            socketio.start_background_task(self._run)

    def forget(self, sid):
        with self.lock:
            self.sockets.pop(sid, None)

    def user_of(self, sid):
        """The user id of a watched socket, recording the use of its session; None if unwatched."""
        watched = self.sockets.get(sid)
        if watched is None:
            return None
        self.used.add(watched[0])
        return watched[1]

    def _run(self):
        """Check every interval while this process has sockets; end when it has none.

        Each check covers at most _CHUNK sessions (one query), taking them in turn, so the
        cost of a check stays flat however many sockets are open: with S sessions, one
        ended elsewhere loses its sockets within ceil(S / _CHUNK) intervals.
        """
        while True:
            socketio.sleep(self.app.config["REVOCATION_INTERVAL"])
            with self.lock:
                if not self.sockets:
                    self.running = False
                    return
            try:
                with self.app.app_context():
                    self.sweep(rotating=True)
            except Exception as error:  # noqa: BLE001 - the watch must outlive a busy database
                log.warning("session check failed (%s); trying again", error.__class__.__name__)

    def sweep(self, rotating=False):
        """Disconnect every watched socket whose session ended; answers their sids.

        :param rotating: check only the next _CHUNK sessions after the last check's (the
            periodic task), instead of all of them (after a change made in this process).
        """
        with self.lock:
            watched = dict(self.sockets)
        if not watched:
            return []
        hashes = sorted({token for token, _user in watched.values() if token})
        if rotating:
            start = self.turn % len(hashes)
            hashes = (hashes[start:] + hashes[:start])[:_CHUNK]
            self.turn = start + len(hashes)
        checked, live = set(hashes), set()
        for start in range(0, len(hashes), _CHUNK):
            live.update(db.session.execute(
                db.select(LoginSession.token_hash)
                .join(User, User.id == LoginSession.user_id)
                .where(LoginSession.token_hash.in_(hashes[start:start + _CHUNK]),
                       *sessions.live_conditions())
            ).scalars())
        self._touch_used(checked, live)
        ended = [sid for sid, (token, _user) in watched.items()
                 if token in checked and token not in live or not token]
        for sid in ended:
            # A fresh app context: the disconnect handler ends its database session, which
            # must not be the caller's (a view still answering with its user object).
            with self.app.app_context():
                _sign_out(sid)
        return ended

    def _touch_used(self, checked, live):
        """Write last_seen for the checked live sessions used over a socket since (the idle
        lifetime), at most once per `sessions.touch_interval_ms()` each: socket events never
        write it themselves."""
        now = now_ms()
        interval = sessions.touch_interval_ms()
        with self.lock:
            used = self.used & checked
            self.used -= checked
        due = sorted(token for token in used & live
                     if now - self.touched.get(token, 0) >= interval)
        for token in (checked - live) & set(self.touched):
            del self.touched[token]
        if not due:
            return
        sessions.touch_tokens(due, now)
        for token in due:
            self.touched[token] = now


def _sign_out(sid):
    """Tell the socket why, then close it (the browser shows it was signed out)."""
    try:
        socketio.emit(SIGNED_OUT, {"reason": "session_ended"}, to=sid, namespace="/")
    except Exception:  # noqa: BLE001 - closing matters more than the notice
        log.info("could not send signed_out before disconnecting")
    socketio.server.disconnect(sid, namespace="/")


def watch():
    """This app's SocketWatch (one per server process and app)."""
    app = current_app._get_current_object()
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = app.extensions.setdefault(_EXTENSION, SocketWatch(app))
    return found


def track(sid, session_value, user_id):
    """Watch a newly connected socket of a session ("<user id>:<token>")."""
    watch().track(sid, sessions.token_hash(session_value), user_id)


def socket_user(sid):
    """The user id a socket authenticated as at connect, while its session lives; else None."""
    found = current_app.extensions.get(_EXTENSION)
    return found.user_of(sid) if found is not None else None


def forget(sid):
    """A socket went away: stop watching it."""
    found = current_app.extensions.get(_EXTENSION)
    if found is not None:
        found.forget(sid)


def sweep():
    """Close this process's sockets of ended sessions now (after a commit that ended some)."""
    found = current_app.extensions.get(_EXTENSION)
    return found.sweep() if found is not None else []
