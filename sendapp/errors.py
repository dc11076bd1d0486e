"""Error codes (PROTOCOL §7) and the handlers that turn every failure into JSON."""
import logging

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .database import is_locked
from .extensions import db
from .i18n import N_

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
        """:param message: a sentence in the request's language, or a lazy one when the refusal
            is made outside the request (the message writer's thread): it is translated when
            answered.
        :param details: extra fields a code defines, e.g. `members` of `stale_members`."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_ack(self):
        return {"ok": False, "error": self.code, "message": str(self.message), **self.details}


def transient_refusal(error, where):
    """The `retry` refusal for a failure that passes by itself (another process holds the SQLite
    lock), logged as one line; None for anything else (a bug: the caller logs a traceback)."""
    if not is_locked(error):
        return None
    log.warning("%s answered retry: database is locked by another connection", where)
    return ApiError("retry", _l("the database is busy; nothing was stored, try again in a moment"))


def error_response(code, message, status=None, headers=None, details=None):
    response = jsonify({"error": code, "message": str(message), **(details or {})})
    response.status_code = status or STATUS[code]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Sentences Werkzeug and Flask-WTF write in English, translated when an API answer carries them
# (N_ marks them for `flask translations`; _library_sentence translates).
LIBRARY_SENTENCES = frozenset({
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_("The server could not verify that you are authorized to access the URL requested. You "
       "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
       "understand how to supply the credentials required."),
    N_("You don't have the permission to access the requested resource. It is either "
       "read-protected or not readable by the server."),
    N_("The requested URL was not found on the server. If you entered the URL manually please "
       "check your spelling and try again."),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("The server does not support the media type transmitted in the request."),
    N_("The server cannot provide the requested range."),
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
})


def _library_sentence(text):
    """A library's English sentence in the request's language (unknown ones stay as they are)."""
    return _(text) if text in LIBRARY_SENTENCES else text


def _wants_json():
    return request.path.startswith("/api/") or request.is_json


def register_error_handlers(app):
    """Answer API failures as {"error", "message"}; never leak a stack trace."""

    @app.errorhandler(ApiError)
    def _api_error(error):
        return error_response(error.code, error.message, details=error.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(error):
        # The sentence keeps the word CSRF in every language: the clients look for it to
        # fetch a fresh token and try again (static/js/api.js, sendapp/client/http.py).
        return error_response("forbidden", _("CSRF check failed: %(reason)s",
                                             reason=_library_sentence(error.description)))

    @app.errorhandler(429)
    def _rate_limited(error):
        retry_after = None
        limit = getattr(error, "limit", None)
        if limit is not None:
            retry_after = str(int(limit.limit.get_expiry()))
        headers = {"Retry-After": retry_after} if retry_after else None
        return error_response(
            "rate_limited", _("Too many attempts; wait a moment and try again."),
            headers=headers,
        )

    @app.errorhandler(HTTPException)
    def _http_error(error):
        if not _wants_json():
            return _error_page(error)
        code = _CODE_FOR_STATUS.get(error.code, "bad_request")
        return error_response(code, _library_sentence(error.description) or code,
                              status=error.code)

    @app.errorhandler(Exception)
    def _unexpected(error):
        db.session.rollback()  # whatever was half-written is not kept
        refusal = transient_refusal(error, f"{request.method} {request.path!r}")  # one line
        if refusal is not None:
            return error_response(refusal.code, refusal.message, headers={"Retry-After": "1"})
        log.exception("unhandled error on %s %s", request.method, request.path)  # a bug
        return error_response("retry", _("Internal error; nothing was stored. Try again."))


def _error_page(error):
    """A page (not the API) that failed: say so in the reader's language, with a way back."""
    if error.code == 404:
        title, text = _("Page not found"), _("There is nothing at this address. Check the link, or open SendApp.")
    elif error.code == 429:
        title, text = _("Too many requests"), _("Wait a moment, then try again.")
    else:
        title, text = _("Something went wrong"), _("This page could not be shown. Try again, or open SendApp.")
    response = error.get_response()
    response.set_data(render_template("error.html", title=title, text=text))
    response.mimetype = "text/html"
    return response
