"""Security headers on every response (strict CSP, HSTS, no sniffing) and the same-origin rule
for state-changing requests."""
from urllib.parse import urlsplit

from flask import request
from flask_babel import gettext as _

from .errors import ApiError

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "application/json":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin_of(url):
    """(scheme, host, port) of an origin or URL, the default port filled in; None if unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def refuse_foreign_origin():
    """Refuse a state-changing request whose `Origin` is not this server's own scheme://host.

    The CSRF token already proves the page was ours; this also stops a token that leaked
    (or a page on a sibling origin) from being used. No `Origin` (non-browser clients,
    old browsers) passes: the CSRF token still applies. Socket.IO checks origins itself.
    """
    origin = request.headers.get("Origin")
    if request.method in SAFE_METHODS or origin is None:
        return
    own = _origin_of(f"{request.scheme}://{request.host}")
    if own is None or _origin_of(origin) != own:
        raise ApiError("cross_origin", _("requests from another site are refused"))


class SecurityHeaders:
    """WSGI middleware: the same headers on answers Flask never sees (Engine.IO polling).

    Headers a response already has (Flask's, through add_security_headers) are kept.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _value in headers}
            missing = [(name, value) for name, value in HEADERS.items()
                       if name.lower() not in present]
            return start_response(status, headers + missing, exc_info)

        return self.wsgi_app(environ, start)
