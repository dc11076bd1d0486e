"""Who is online (PROTOCOL §8 `presence`): a user is online from their first socket in any
server process until their last one closes.

`init_app` is the one place that chooses the store: with a redis:// or rediss://
MESSAGE_QUEUE the server processes share presence in that Redis (`shared.py`), otherwise
this process's memory is all of it (`local.py`). Callers use the functions below only.
"""
from functools import partial

from flask import current_app

from .. import notify
from ..extensions import db
from ..friends import service as friends
from .local import LocalPresence
from .shared import SharedPresence

_EXTENSION = "sendapp_presence"


def init_app(app):
    """Choose this app's store; a shared one starts its heartbeat on the first request or
    socket."""
    queue = app.config["MESSAGE_QUEUE"] or ""
    if queue.startswith(("redis://", "rediss://")):
        store = SharedPresence(queue, app.config["PRESENCE_TTL"], partial(_announce, app))
        app.before_request(store.start)
    else:
        store = LocalPresence()
    app.extensions[_EXTENSION] = store


def _store():
    return current_app.extensions[_EXTENSION]


def connected(user_id, sid):
    """Record a socket; True when it is the user's first anywhere (announce them online)."""
    return _store().connected(user_id, sid)


def disconnected(user_id, sid):
    """Forget a socket; True when it was the user's last anywhere (announce them offline)."""
    return _store().disconnected(user_id, sid)


def online_among(user_ids):
    """The users of `user_ids` who are online: one Redis read for a whole friends list."""
    return _store().online_among(list(user_ids))


def is_online(user_id):
    return user_id in online_among([user_id])


def _announce(app, changes):
    """Tell friends what a heartbeat found: a crashed process's users went offline, or this
    process's users changed while Redis was unreachable."""
    with app.app_context():
        try:
            for user_id, online in changes:
                notify.presence(user_id, online, friends.friend_ids(user_id))
        finally:
            db.session.remove()
