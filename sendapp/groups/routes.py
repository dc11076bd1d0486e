"""Group API (PROTOCOL §9.2): list, create, read, add, remove or leave, promote.

Every `/api/groups/<group_id>…` view first checks that the caller is a current member
(404 `not_found` otherwise, for an unknown id alike) and only then reads its body, so a
non-member learns nothing, not even whether its body would have been acceptable. The
service checks membership again under the writers' lock before it changes anything.
(The group's history, GET /api/groups/<group_id>/messages, is the chat blueprint's.)
"""
from flask import Blueprint, current_app, jsonify
from flask_login import current_user, login_required

from ..extensions import limiter
from ..validation import json_body, require_id
from . import service, shapes
from .membership import require_member

bp = Blueprint("groups", __name__, url_prefix="/api")


def _groups_limit():
    """Creating groups and adding members are limited like friend requests (§9.2)."""
    return current_app.config["RATELIMIT_FRIENDS"]


def _group_answer(group_id, status=200):
    return jsonify(group=shapes.group_json(group_id, current_user.id)), status


def _user_field():
    return require_id(json_body().get("user"), "user")


@bp.get("/groups")
@login_required
def list_groups():
    """The caller's groups, ascending id, and the most members a group may have."""
    return jsonify(groups=shapes.groups_of(current_user.id), max_members=service.max_members())


@bp.post("/groups")
@login_required
@limiter.limit(_groups_limit)
def create_group():
    """Create a group: the caller as admin, the listed friends as members."""
    group_id = service.create(current_user.id, json_body().get("members"))
    return _group_answer(group_id, 201)


@bp.get("/groups/<int:group_id>")
@login_required
def get_group(group_id):
    """One group of the caller's."""
    require_member(current_user.id, group_id)
    return _group_answer(group_id)


@bp.post("/groups/<int:group_id>/members")
@login_required
@limiter.limit(_groups_limit)
def add_member(group_id):
    """An admin adds a friend with a current key."""
    require_member(current_user.id, group_id)
    service.add(current_user.id, group_id, _user_field())
    return _group_answer(group_id)


@bp.delete("/groups/<int:group_id>/members/<int:user_id>")
@login_required
def remove_member(group_id, user_id):
    """The caller's own id: leave. Anyone else's: an admin removes that member."""
    require_member(current_user.id, group_id)
    if user_id == current_user.id:
        service.leave(current_user.id, group_id)
    else:
        service.remove(current_user.id, group_id, user_id)
    return "", 204


@bp.post("/groups/<int:group_id>/admins")
@login_required
def promote_member(group_id):
    """An admin makes a member an admin (no demotion; an admin already: nothing happens)."""
    require_member(current_user.id, group_id)
    service.promote(current_user.id, group_id, _user_field())
    return _group_answer(group_id)
