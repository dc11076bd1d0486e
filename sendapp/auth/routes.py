"""Account API (PROTOCOL §7): csrf, prelogin, register, login, logout, me, vault."""
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from ..errors import ApiError
from ..extensions import limiter, socketio
from ..validation import json_body
from . import service, sessions

bp = Blueprint("auth", __name__, url_prefix="/api")


def _username_key():
    """Rate-limit key: the normalised username named by the request, if any.

    The body is read through json_body, which refuses an oversize one before reading it.
    """
    raw = request.args.get("username")
    if raw is None and request.is_json:
        try:
            raw = json_body().get("username")
        except ApiError:
            raw = None  # the view answers with the same error
    return "user:" + (str(raw).strip().lower()[:64] if raw else "-")


def _auth_limit():
    return current_app.config["RATELIMIT_AUTH"]


def _prelogin_limit():
    return current_app.config["RATELIMIT_PRELOGIN"]


@bp.get("/csrf")
def csrf_token():
    """Hand a CSRF token to non-browser clients (bound to the session cookie)."""
    return jsonify(csrf_token=generate_csrf())


@bp.get("/prelogin")
@limiter.limit(_prelogin_limit)
@limiter.limit(_prelogin_limit, key_func=_username_key)
def prelogin():
    """KDF parameters for a username (PROTOCOL §2)."""
    return jsonify(service.prelogin(request.args.get("username", "")))


@bp.post("/register")
@limiter.limit(_auth_limit)
@limiter.limit(_auth_limit, key_func=_username_key)
def register():
    """Create an account and log it in."""
    user = service.register(json_body())
    sessions.start(user)
    return jsonify(user=service.user_json(user), csrf_token=generate_csrf()), 201


@bp.post("/login")
@limiter.limit(_auth_limit)
@limiter.limit(_auth_limit, key_func=_username_key)
def login():
    """Check `auth`, rotate the session and hand back the encrypted vault."""
    body = json_body()
    user = service.authenticate(body.get("username"), body.get("auth"))
    sessions.start(user)
    vault = user.vault
    return jsonify(
        user=service.user_json(user),
        vault=None if vault is None else current_app.json.loads(vault),
        csrf_token=generate_csrf(),
    )


@bp.post("/logout")
@login_required
def logout():
    """End this session and disconnect its sockets."""
    room = sessions.current_session_room()
    sessions.end(current_user._get_current_object())
    _disconnect_room(room)
    return "", 204


def _disconnect_room(room):
    """Close this process's sockets of a session; elsewhere each event re-checks the session."""
    server = socketio.server
    for sid, _eio_sid in list(server.manager.get_participants("/", room)):
        server.disconnect(sid, namespace="/")


@bp.get("/me")
@login_required
def me():
    """The logged-in user."""
    return jsonify(user=service.user_json(current_user))


@bp.put("/me/vault")
@login_required
def put_vault():
    """Replace the vault (password change, first key, key rotation)."""
    user = service.update_vault(current_user._get_current_object(), json_body())
    return jsonify(user=service.user_json(user))
