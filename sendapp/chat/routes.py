"""Conversation API (PROTOCOL §7): history pages and per-friend summaries."""
from flask import Blueprint, jsonify
from flask_login import current_user, login_required

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


@bp.get("/conversations")
@login_required
def conversations():
    """Last activity, unread counts and read markers for every friend."""
    return jsonify(conversations=service.conversations(current_user.id,
                                                       friend_ids(current_user.id)))
