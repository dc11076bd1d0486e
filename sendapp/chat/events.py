"""Socket.IO chat events (PROTOCOL §8). Thin: validate, call the service, emit, ack."""

from .. import notify
from ..errors import ApiError
from ..extensions import socketio
from ..friends.service import require_friend, require_friend_of_socket
from ..load import sends_in_hand
from ..realtime import socket_event
from ..rooms import pair_room
from ..validation import require_object
from . import envelope as envelopes
from . import service


@socket_event("send")
def on_send(caller, data=None):
    """Sender → server. Validate, store (committed before the ack), relay to the pair room."""
    with sends_in_hand().one():  # the bound the edge sheds by (sendapp/load.py)
        env = envelopes.parse(data)
        message, created = service.store(caller.user_id, env)
        if created:
            notify.to_pair(caller.user_id, env.to, "message", envelopes.as_wire(message))
        return {"ok": True, "id": message.id, "ts": message.ts}


@socket_event("sync")
def on_sync(caller, data=None):
    """Client → server after (re)connect. Every message to or from the caller after `after`."""
    data = require_object(data, "sync")
    if "after" not in data:
        raise ApiError("bad_request", "after is missing")
    rows, more, last = service.sync(caller.user_id, data["after"], data.get("limit"))
    return {"ok": True, "messages": [envelopes.as_wire(m) for m in rows], "more": more,
            "last": last}


@socket_event("join")
def on_join(caller, data=None):
    """Client → server after a new friendship. Joins that pair's room; friends only."""
    friend = require_object(data, "join").get("friend")
    require_friend(caller.user_id, friend)
    socketio.server.enter_room(caller.sid, pair_room(caller.user_id, friend), namespace="/")
    return {"ok": True}


@socket_event("typing")
def on_typing(caller, data=None):
    """Client → server. Relayed to the friend as `typing {from, on}`; not stored."""
    data = require_object(data, "typing")
    friend = data.get("to")
    require_friend_of_socket(caller.sid, caller.user_id, friend)
    notify.to_user(friend, "typing", {"from": caller.user_id, "on": bool(data.get("on"))})
    return {"ok": True}


@socket_event("read")
def on_read(caller, data=None):
    """Client → server. Stores the read marker; the pair room gets `read {from, to, up_to}`
    (`to` is extra: the reader's other devices learn which conversation was read)."""
    data = require_object(data, "read")
    friend = data.get("friend")
    up_to = service.mark_read(caller.user_id, friend, data.get("up_to"))
    notify.to_pair(caller.user_id, friend, "read",
                   {"from": caller.user_id, "to": friend, "up_to": up_to})
    return {"ok": True, "up_to": up_to}
