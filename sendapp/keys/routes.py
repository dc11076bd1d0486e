"""Key API (PROTOCOL §7, §9.1): public keys of self, friends and co-members."""
from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from . import service

bp = Blueprint("keys", __name__, url_prefix="/api")


@bp.get("/users/<int:user_id>/keys")
@login_required
def user_keys(user_id):
    """Every key (current and older) of self, a friend, a co-member or a group sender."""
    return jsonify(keys=service.keys_visible_to(current_user.id, user_id))
