"""Error codes (PROTOCOL §7) and the handlers that turn every failure into JSON."""
import logging

from flask import jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .database import is_locked
from .extensions import db

log = logging.getLogger(__name__)

STATUS = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "cross_origin": 403,  # a state-changing request from another site (security.py)
    "not_found": 404,
    "conflict": 409,
    "stale_members": 409,  # a group envelope not wrapped for exactly the members (§9.5)
    "too_large": 413,
    "quota_exceeded": 413,  # the uploader's attachments fill their quota (blobs/quota.py)
    "rate_limited": 429,
    "retry": 503,
}
_CODE_FOR_STATUS = {}
for _code, _status in STATUS.items():
    _CODE_FOR_STATUS.setdefault(_status, _code)  # the first (general) code of each status
_CODE_FOR_STATUS.update({405: "bad_request", 415: "bad_request", 500: "retry"})


class ApiError(Exception):
    """A refusal with a PROTOCOL error code; HTTP and Socket.IO render it alike."""

    def __init__(self, code, message, **details):
        """:param details: extra fields a code defines, e.g. `members` of `stale_members`."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_ack(self):
        return {"ok": False, "error": self.code, "message": self.message, **self.details}


def transient_refusal(error, where):
    """The `retry` refusal for a failure that passes by itself (another process holds the SQLite
    lock), logged as one line; None for anything else (a bug: the caller logs a traceback)."""
    if not is_locked(error):
        return None
    log.warning("%s answered retry: database is locked by another connection", where)
    return ApiError("retry", "the database is busy; nothing was stored, try again in a moment")


def error_response(code, message, status=None, headers=None, details=None):
    response = jsonify({"error": code, "message": message, **(details or {})})
    response.status_code = status or STATUS[code]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _wants_json():
    return request.path.startswith("/api/") or request.is_json


def register_error_handlers(app):
    """Answer API failures as {"error", "message"}; never leak a stack trace."""

    @app.errorhandler(ApiError)
    def _api_error(error):
        return error_response(error.code, error.message, details=error.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(error):
        return error_response("forbidden", f"CSRF check failed: {error.description}")

    @app.errorhandler(429)
    def _rate_limited(error):
        retry_after = None
        limit = getattr(error, "limit", None)
        if limit is not None:
            retry_after = str(int(limit.limit.get_expiry()))
        headers = {"Retry-After": retry_after} if retry_after else None
        return error_response(
            "rate_limited", "Too many attempts; wait a moment and try again.",
            headers=headers,
        )

    @app.errorhandler(HTTPException)
    def _http_error(error):
        if not _wants_json():
            return error
        code = _CODE_FOR_STATUS.get(error.code, "bad_request")
        return error_response(code, error.description or code, status=error.code)

    @app.errorhandler(Exception)
    def _unexpected(error):
        db.session.rollback()  # whatever was half-written is not kept
        refusal = transient_refusal(error, f"{request.method} {request.path!r}")  # one line
        if refusal is not None:
            return error_response(refusal.code, refusal.message, headers={"Retry-After": "1"})
        log.exception("unhandled error on %s %s", request.method, request.path)  # a bug
        return error_response("retry", "Internal error; nothing was stored. Try again.")
