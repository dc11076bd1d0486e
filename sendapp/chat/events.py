"""Socket.IO chat events (PROTOCOL §8, §9.5). Thin: validate, call the service, emit, ack."""

from flask_babel import gettext as _

from .. import notify
from ..conversations import Conversation, audience, named_in, require_access
from ..errors import ApiError
from ..extensions import socketio
from ..load import sends_in_hand
from ..realtime import socket_event
from ..rooms import pair_room
from ..validation import require_object
from . import envelope as envelopes
from . import service
from .relay import relay


@socket_event("send")
def on_send(caller, data=None):
    """Sender → server. Validate, store (committed, and relayed by the writer, before the
    ack: chat/relay.py). A retried cid of a stored message is relayed again: the process
    that stored it may have died before relaying it (receivers de-duplicate by id)."""
    in_hand = sends_in_hand()  # the edge counts this send in hand (sendapp/load.py)
    in_hand.refuse_if_closing()
    env = envelopes.parse(data)
    try:
        message, created = service.store(caller.user_id, env)
    except ApiError as error:
        if error.code == "retry":  # when to come back, as the edge's refusals say
            error.details.setdefault("retry_after", in_hand.retry_after())
        raise
    in_hand.stored()
    if not created:
        relay(caller.user_id, env, message)
    return {"ok": True, "id": message.id, "ts": message.ts}


@socket_event("sync")
def on_sync(caller, data=None):
    """Client → server after (re)connect. Every message to or from the caller, and every group
    message wrapped for the caller, after `after` (§8, §9.5)."""
    data = require_object(data, "sync")
    if "after" not in data:
        raise ApiError("bad_request", _("%(field)s is missing", field="after"))
    rows, more, last = service.sync(caller.user_id, data["after"], data.get("limit"))
    return {"ok": True, "messages": [envelopes.as_wire(m) for m in rows], "more": more,
            "last": last}


@socket_event("join")
def on_join(caller, data=None):
    """Client → server after a new friendship. Joins that pair's room; friends only."""
    friend = require_object(data, "join").get("friend")
    require_access(caller.user_id, Conversation(friend=friend))
    socketio.server.enter_room(caller.sid, pair_room(caller.user_id, friend), namespace="/")
    return {"ok": True}


@socket_event("typing")
def on_typing(caller, data=None):
    """Client → server, naming a friend (`to`) or a group. Relayed to the friend as
    `typing {from, on}`, or to every other member as `typing {from, group, on}` (members only,
    §9.5); not stored."""
    data = require_object(data, "typing")
    conversation = named_in(data, "to")
    require_access(caller.user_id, conversation, caller.sid)
    payload = {"from": caller.user_id, "on": bool(data.get("on"))}
    if conversation.is_group:
        payload = {"from": caller.user_id, "group": conversation.group, "on": payload["on"]}
    for room in audience(caller.user_id, conversation):
        socketio.emit("typing", payload, to=room)
    return {"ok": True}


@socket_event("read")
def on_read(caller, data=None):
    """Client → server, naming a friend or a group. Stores the read marker (forward only).
    Pair: the pair room gets `read {from, to, up_to}` (`to` is extra: the reader's other
    devices learn which conversation was read). Group (§9.5): every member, the reader's
    other devices included, gets `read {from, group, up_to}`."""
    data = require_object(data, "read")
    conversation = named_in(data, "friend")
    if conversation.is_group:
        up_to = service.mark_group_read(caller.user_id, conversation.group, data.get("up_to"))
        payload = {"from": caller.user_id, "group": conversation.group, "up_to": up_to}
        notify.to_user(caller.user_id, "read", payload)
        for room in audience(caller.user_id, conversation):
            socketio.emit("read", payload, to=room)
        return {"ok": True, "up_to": up_to}
    friend = conversation.friend
    up_to = service.mark_read(caller.user_id, friend, data.get("up_to"))
    notify.to_pair(caller.user_id, friend, "read",
                   {"from": caller.user_id, "to": friend, "up_to": up_to})
    return {"ok": True, "up_to": up_to}
