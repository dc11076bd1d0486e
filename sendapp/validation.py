"""Input rules shared by HTTP, Socket.IO and the CLI: one place for each check.

Every failure raises ApiError("bad_request" | "too_large", message naming the field).
"""
import json
import re
import unicodedata

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.routing import IntegerConverter, ValidationError

from .encoding import b64url_decode
from .errors import ApiError

USERNAME_PATTERN = re.compile(r"^[a-z0-9_.-]{3,32}$")
MAX_ID = 2**53 - 1  # JSON-safe integer range shared with the browser
MAX_ROW_ID = 2**31 - 1  # the narrowest id column (PostgreSQL INTEGER): no row has a larger id


def normalise_username(raw):
    """NFKC then lower-case, then the PROTOCOL §1 pattern."""
    if not isinstance(raw, str):
        raise ApiError("bad_request", _("username must be a string"))
    name = unicodedata.normalize("NFKC", raw).strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise ApiError(
            "bad_request",
            _("username must be 3-32 characters of a-z, 0-9, '_', '.' or '-'"),
        )
    return name


def account_key(raw):
    """The account a name would log in to (normalise_username), for per-account limits;
    "-" for a name no account can have (one shared bucket: such attempts all fail anyway)."""
    try:
        return normalise_username(raw)
    except ApiError:
        return "-"


def require_int(value, field, minimum=0):
    """Accept a JSON integer only (a bool or a numeric string is refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError("bad_request", _("%(field)s must be an integer", field=field))
    if value < minimum or value > MAX_ID:
        raise ApiError("bad_request", _("%(field)s is out of range", field=field))
    return value


def require_id(value, field):
    """A row id (user, message) from JSON: an integer that a row could have."""
    value = require_int(value, field, minimum=1)
    if value > MAX_ROW_ID:
        raise ApiError("bad_request", _("%(field)s is out of range", field=field))
    return value


def query_int(name):
    """An optional non-negative integer query parameter (?before=, ?limit=, ?to=); None if absent."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError("bad_request", _("%(field)s must be a positive integer", field=name))
    if len(raw) > len(str(MAX_ID)):  # before int(): Python refuses to parse huge digit strings
        raise ApiError("bad_request", _("%(field)s is out of range", field=name))
    return require_int(int(raw), name)


class RowIdConverter(IntegerConverter):
    """`<int:...>` in URLs: only ids a row could have match, so a huge number is a plain 404."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(url_map, fixed_digits, min, MAX_ROW_ID if max is None else max, signed)

    def to_python(self, value):
        if len(value) > len(str(self.max)):
            raise ValidationError()
        return super().to_python(value)


def require_str(value, field, max_len=None):
    if not isinstance(value, str) or not value:
        raise ApiError("bad_request", _("%(field)s must be a non-empty string", field=field))
    if max_len is not None and len(value) > max_len:
        raise _too_long(field, max_len)
    return value


def _too_long(field, most):
    return ApiError("too_large", ngettext("%(field)s is longer than %(num)d character",
                                          "%(field)s is longer than %(num)d characters",
                                          most, field=field))


def require_b64url(value, field, length=None, max_chars=None):
    """Check base64url without padding (PROTOCOL §1); return the decoded bytes."""
    require_str(value, field)
    if max_chars is not None and len(value) > max_chars:
        raise _too_long(field, max_chars)
    try:
        return b64url_decode(value, length)
    except ValueError:
        if length:
            raise ApiError("bad_request", ngettext(
                "%(field)s must be base64url without padding of %(num)d byte",
                "%(field)s must be base64url without padding of %(num)d bytes",
                length, field=field))
        raise ApiError("bad_request", _("%(field)s must be base64url without padding",
                                        field=field))


def require_object(value, field="body"):
    if not isinstance(value, dict):
        raise ApiError("bad_request", _("%(field)s must be a JSON object", field=field))
    return value


def json_body():
    """Parse the request's JSON object with a size cap and a specific error for each fault."""
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise _body_too_large(limit)
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise _body_too_large(limit)
    if not raw:
        raise ApiError("bad_request", _("request body must be a JSON object"))
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("bad_request", _("request body is not valid JSON"))
    except RecursionError:
        raise ApiError("bad_request", _("request body is nested too deeply"))
    return require_object(body)


def _body_too_large(limit):
    return ApiError("too_large", ngettext("request body is larger than %(num)d byte",
                                          "request body is larger than %(num)d bytes", limit))


def json_body_or_none():
    """The request's JSON object when it is a valid one within the size cap, else None
    (for rate-limit keys, which must never fail the request themselves)."""
    if not request.is_json:
        return None
    try:
        return json_body()
    except ApiError:
        return None


def vault_json(value):
    """Validate the client-encrypted vault shape (PROTOCOL §3); store it as compact JSON."""
    vault = require_object(value, "vault")
    if vault.get("v") != 1:
        raise ApiError("bad_request", _("vault.v must be 1"))
    require_b64url(vault.get("n"), "vault.n", length=12)
    require_b64url(vault.get("ct"), "vault.ct", max_chars=262_144)
    return json.dumps({"v": 1, "n": vault["n"], "ct": vault["ct"]}, separators=(",", ":"))


def public_key_bytes(value, field="public_key"):
    """An X25519 public key: 32 bytes in base64url."""
    return require_b64url(value, field, length=32)
