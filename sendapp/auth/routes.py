"""Account API (PROTOCOL §7): csrf, prelogin, register, login, logout, me, vault."""
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from ..extensions import limiter
from ..validation import account_key, json_body, json_body_or_none
from . import revocation, service, sessions

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
