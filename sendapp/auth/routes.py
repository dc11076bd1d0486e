"""Account API (PROTOCOL §7): csrf, prelogin, register, login, logout, me, vault; and the
account in the user's hands: its sessions ("My devices") and deleting it."""
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from ..extensions import limiter
from ..validation import account_key, json_body, json_body_or_none
from . import admin, devices, revocation, service, sessions

bp = Blueprint("auth", __name__, url_prefix="/api")


def _username_key():
    """Rate-limit key: the account the request names, spelled as login looks it up
    (so 'ａｌｉｃｅ' and 'Alice' share alice's bucket)."""
    raw = request.args.get("username")
    if raw is None:
        raw = (json_body_or_none() or {}).get("username")
    return "user:" + account_key(raw)


def _session_user_key():
    """Rate-limit key: the logged-in account (anonymous requests are refused by login_required)."""
    return "user:" + (current_user.username if current_user.is_authenticated else "-")


def _auth_limit():
    return current_app.config["RATELIMIT_AUTH"]


def _prelogin_limit():
    return current_app.config["RATELIMIT_PRELOGIN"]


def _vault_limit():
    return current_app.config["RATELIMIT_VAULT"]


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
    """End this session and disconnect its sockets (other processes: within a second)."""
    sessions.end(current_user._get_current_object())
    revocation.sweep()
    return "", 204


@bp.get("/me")
@login_required
def me():
    """The logged-in user."""
    return jsonify(user=service.user_json(current_user))


@bp.put("/me/vault")
@limiter.limit(_vault_limit, key_func=_session_user_key)
@login_required
def put_vault():
    """Replace the vault (password change, first key, key rotation)."""
    user = service.update_vault(current_user._get_current_object(), json_body())
    return jsonify(user=service.user_json(user))


@bp.delete("/me")
@limiter.limit(_vault_limit, key_func=_session_user_key)
@login_required
def delete_me():
    """Delete the caller's account after checking `auth` (the password, as at login); every
    session ends and every socket of the account closes."""
    user = current_user._get_current_object()
    service.require_password(user, json_body())
    admin.delete_account(user)
    sessions.end(user)  # the session row is gone already: this clears the cookie
    return "", 204


@bp.get("/me/sessions")
@login_required
def my_sessions():
    """The caller's live sessions ("My devices"), the current one first and marked."""
    return jsonify(sessions=devices.list_sessions(current_user._get_current_object()))


@bp.delete("/me/sessions/<int:session_id>")
@login_required
def end_my_session(session_id):
    """Sign out one of the caller's sessions (its sockets close); 404 for any other id."""
    devices.end_session(current_user._get_current_object(), session_id)
    return "", 204


@bp.post("/me/sessions/end-others")
@login_required
def end_my_other_sessions():
    """Sign out every session of the caller but this one (their sockets close)."""
    ended = devices.end_other_sessions(current_user._get_current_object())
    return jsonify(ended=ended)
