"""Key API (PROTOCOL §7): public keys of self and friends."""
from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from . import service

bp = Blueprint("keys", __name__, url_prefix="/api")


@bp.get("/users/<int:user_id>/keys")
@login_required
def user_keys(user_id):
    """Every key (current and older) of self or a friend."""
    return jsonify(keys=service.keys_visible_to(current_user.id, user_id))
