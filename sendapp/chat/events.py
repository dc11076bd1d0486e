"""Socket.IO chat events (PROTOCOL §8). Thin: validate, call the service, emit, ack."""
from flask_socketio import join_room

from .. import notify
from ..errors import ApiError
from ..extensions import socketio
from ..friends.service import require_friend
from ..realtime import authenticated_only
from ..rooms import pair_room
from ..validation import require_object
from . import envelope as envelopes
from . import service


@socketio.on("send")
@authenticated_only
def on_send(me, data=None):
    """Sender → server. Validate, store (committed before the ack), relay to the pair room."""
    env = envelopes.parse(data)
    message, created = service.store(me, env)
    if created:
        notify.to_pair(me, env.to, "message", envelopes.as_wire(message))
    return {"ok": True, "id": message.id, "ts": message.ts}


@socketio.on("sync")
@authenticated_only
def on_sync(me, data=None):
    """Client → server after (re)connect. Every message to or from the caller after `after`."""
    data = require_object(data, "sync")
    if "after" not in data:
        raise ApiError("bad_request", "after is missing")
    rows, more, last = service.sync(me, data["after"], data.get("limit"))
    return {"ok": True, "messages": [envelopes.as_wire(m) for m in rows], "more": more,
            "last": last}


@socketio.on("join")
@authenticated_only
def on_join(me, data=None):
    """Client → server after a new friendship. Joins that pair's room; friends only."""
    friend = require_object(data, "join").get("friend")
    require_friend(me, friend)
    join_room(pair_room(me, friend))
    return {"ok": True}


@socketio.on("typing")
@authenticated_only
def on_typing(me, data=None):
    """Client → server. Relayed to the friend as `typing {from, on}`; not stored."""
    data = require_object(data, "typing")
    friend = data.get("to")
    require_friend(me, friend)
    notify.to_user(friend, "typing", {"from": me, "on": bool(data.get("on"))})
    return {"ok": True}


@socketio.on("read")
@authenticated_only
def on_read(me, data=None):
    """Client → server. Stores the read marker; the pair room gets `read {from, to, up_to}`
    (`to` is extra: the reader's other devices learn which conversation was read)."""
    data = require_object(data, "read")
    friend = data.get("friend")
    up_to = service.mark_read(me, friend, data.get("up_to"))
    notify.to_pair(me, friend, "read",
                   {"from": me, "to": friend, "up_to": up_to})
    return {"ok": True, "up_to": up_to}
