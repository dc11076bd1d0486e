"""/healthz and /readyz: no login, no CSRF (GET only), no rate limit, nothing an attacker
could use (no versions, hosts or error texts; at most the names of the failing parts)."""
from flask import Blueprint, current_app, jsonify

from ..extensions import limiter
from .readiness import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    """Liveness: the process answers requests (touches neither the database nor the queue)."""
    return jsonify(status="alive")


@bp.get("/readyz")
@limiter.exempt
def readyz():
    """Readiness: 200 when new traffic is welcome, else 503 naming what fails."""
    failing = readiness(current_app._get_current_object()).failing()
    if failing:
        return jsonify(status="not_ready", failing=failing), 503
    return jsonify(status="ready")
