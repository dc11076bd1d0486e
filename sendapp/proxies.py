"""Trusted reverse proxies: the client's address, scheme and host as the proxy saw them.

Behind a reverse proxy every request comes from the proxy's address, so rate limits,
logs and the same-origin checks would see the proxy instead of the client. The proxy
tells the real values in `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`,
but any client can send those headers too, so they count only when the connection comes
from an address named in SENDAPP_TRUSTED_PROXIES (none by default).

Werkzeug's ProxyFix is not used: it believes a fixed number of forwarded hops from any
peer, so with the server's port reachable directly (it listens on every interface by
default) a client could pick its own address; and it leaves the headers in place, where
Engine.IO's Origin check reads their leftmost (client-supplied, when a proxy appends)
value. Here, the peer must be trusted, the address list is walked from the right past
trusted proxies, and afterwards the request looks as if the client had connected
directly: REMOTE_ADDR, `wsgi.url_scheme` and `Host` are the public ones and the
`X-Forwarded-*` headers are gone, for every layer inside (Flask, Flask-Limiter,
Engine.IO, the access log in app.py).
"""
import ipaddress

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")
SCHEMES = frozenset({"http", "https"})
PEER_KEY = "sendapp.peer_addr"  # environ: the TCP peer, when it differs from REMOTE_ADDR


def _address(text):
    """An ip_address from `text` (IPv4-mapped IPv6 as IPv4, zone id dropped); None if not one."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class TrustedNetworks:
    """The addresses and networks whose forwarded headers are believed; `host in networks`."""

    def __init__(self, networks=()):
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, value):
        """Read "127.0.0.1, 10.0.0.0/8, ::1" (addresses and CIDR networks); empty means none."""
        networks = []
        for part in (value or "").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part))
            except ValueError:
                raise ValueError(f"SENDAPP_TRUSTED_PROXIES: {part!r} is not an IP address or a "
                                 "network like 10.0.0.0/8") from None
        return cls(networks)

    def __contains__(self, host):
        address = _address(host) if isinstance(host, str) else None
        return address is not None and any(address in network for network in self.networks)

    def __bool__(self):
        return bool(self.networks)

    def __repr__(self):
        return f"TrustedNetworks({', '.join(map(str, self.networks)) or 'none'})"

    def client_of(self, peer, forwarded_for):
        """The client's address: walk `X-Forwarded-For` from the right past trusted proxies.

        The first address that is not a trusted proxy is the client (everything left of
        it was written by the client or by proxies we do not know). When every entry is
        trusted, the leftmost is the client. An entry that is not an address ends the
        walk at the last trusted hop: a proxy we trust wrote nonsense, and the client's
        own claims are never reached.
        """
        client = peer
        for entry in reversed((forwarded_for or "").split(",")):
            address = _address(entry)
            if address is None:
                break
            client = str(address)
            if client not in self:
                break
        return client


def _last(value):
    """The rightmost of comma-separated values: the one our own (trusted) proxy wrote."""
    return (value or "").rsplit(",", 1)[-1].strip()


class TrustedProxies:
    """WSGI middleware: believe forwarded headers from trusted peers only, drop them otherwise."""

    def __init__(self, wsgi_app, networks):
        self.wsgi_app = wsgi_app
        self.networks = networks

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if self.networks and peer in self.networks:
            self._apply(environ, peer)
        for name in FORWARDED_HEADERS:
            environ.pop(name, None)
        return self.wsgi_app(environ, start_response)

    def _apply(self, environ, peer):
        client = self.networks.client_of(peer, environ.get("HTTP_X_FORWARDED_FOR"))
        if client != peer:
            environ[PEER_KEY] = peer
            environ["REMOTE_ADDR"] = client
        scheme = _last(environ.get("HTTP_X_FORWARDED_PROTO")).lower()
        if scheme in SCHEMES:
            environ["wsgi.url_scheme"] = scheme
        host = _last(environ.get("HTTP_X_FORWARDED_HOST"))
        if host and not any(character.isspace() for character in host):
            environ["HTTP_HOST"] = host
