"""Conversation API (PROTOCOL §7, §9.2): history pages of pairs and groups, summaries."""
from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from ..conversations import Conversation, require_access
from ..friends.service import friend_ids
from ..validation import query_int
from . import envelope as envelopes
from . import service

bp = Blueprint("chat", __name__, url_prefix="/api")


@bp.get("/conversations/<int:friend_id>/messages")
@login_required
def messages(friend_id):
    """A page of one conversation's envelopes, oldest first; ids < before."""
    rows, more = service.history(current_user.id, friend_id, query_int("before"),
                                 query_int("limit"))
    return jsonify(messages=[envelopes.as_wire(m) for m in rows], more=more)


@bp.get("/groups/<int:group_id>/messages")
@login_required
def group_messages(group_id):
    """A page of one group's envelopes wrapped for the caller, oldest first; ids < before;
    404 for a non-member first (§9.2), before the query is even read."""
    require_access(current_user.id, Conversation(group=group_id))
    rows, more = service.group_history(current_user.id, group_id, query_int("before"),
                                       query_int("limit"))
    return jsonify(messages=[envelopes.as_wire(m) for m in rows], more=more)


@bp.get("/conversations")
@login_required
def conversations():
    """Last activity, unread counts and read markers for every friend, and for every group
    of the caller (`groups`: group, last_id, last_ts, unread, read_up_to)."""
    return jsonify(conversations=service.conversations(current_user.id,
                                                       friend_ids(current_user.id)),
                   groups=service.group_conversations(current_user.id))
