"""Friend API (PROTOCOL §7): search, list, request, accept, decline/cancel/unfriend."""
from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import presence
from ..auth.service import find_user
from ..errors import ApiError
from ..extensions import db, limiter
from ..models import User
from ..validation import json_body, normalise_username
from . import service

bp = Blueprint("friends", __name__, url_prefix="/api")


def _friends_limit():
    return current_app.config["RATELIMIT_FRIENDS"]


@bp.get("/users")
@login_required
def search_users():
    """Find people by name prefix to befriend."""
    return jsonify(users=service.search(current_user.id, request.args.get("q", "")[:32]))


@bp.get("/friends")
@login_required
def list_friends():
    """Friends with presence, and pending requests both ways."""
    return jsonify(service.listing(current_user.id, presence.online_among))


@bp.post("/friends")
@login_required
@limiter.limit(_friends_limit)
def request_friend():
    """Send a friend request (or accept theirs if they asked first)."""
    target = find_user(normalise_username(json_body().get("username")))
    if target is None:
        raise ApiError("not_found", _("no such user"))
    status, row = service.request_friend(current_user, target)
    if status == "accepted":
        friend = service.friend_json(target, row, presence.is_online(target.id))
        return jsonify(status="accepted", friend=friend)
    return jsonify(status="requested"), 201


@bp.post("/friends/<int:user_id>/accept")
@login_required
def accept(user_id):
    """Accept the request that user_id sent."""
    row = service.accept(current_user, user_id)
    other = db.session.get(User, user_id)
    return jsonify(friend=service.friend_json(other, row, presence.is_online(user_id)))


@bp.delete("/friends/<int:user_id>")
@login_required
def remove(user_id):
    """Decline, cancel or unfriend."""
    service.remove(current_user, user_id)
    return "", 204
