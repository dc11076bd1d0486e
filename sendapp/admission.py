"""Who may hold one of the server's connections: caps per address and in all, idle ones first.

Plain sockets and bookkeeping, no async library: app.py's accept loop asks `Admission`
for every new connection and tells it when one is busy, idle or gone.
"""
import _socket
import ipaddress
import logging
import socket
import time

NOTICE_INTERVAL = 10  # seconds between two log lines about the same refused address


def address_key(host):
    """Group client addresses as one household or provider customer: an IPv4 address, an IPv6 /64.

    A home behind NAT shares one IPv4 address; an IPv6 customer usually gets a whole /64,
    so counting single IPv6 addresses would let one machine look like millions.
    """
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Notices:
    """Log a repeated refusal once per NOTICE_INTERVAL per key, counting the ones left out."""

    def __init__(self, logger):
        self._log = logger
        self._last = {}  # key -> (monotonic time of the last line, events left out since)

    def note(self, key, message, *args, level=logging.WARNING):
        now = time.monotonic()
        last, left_out = self._last.get(key, (None, 0))
        if last is not None and now - last < NOTICE_INTERVAL:
            self._last[key] = (last, left_out + 1)
            return
        if len(self._last) > 10_000:  # a flood from many addresses: forget old keys
            self._last.clear()
        self._last[key] = (now, 0)
        suffix = f" ({left_out} more like it in the last {NOTICE_INTERVAL} s)" if left_out else ""
        self._log.log(level, message + suffix, *args)


class _Connection:
    """One accepted client connection, as admission control sees it."""

    __slots__ = ("key", "sock", "idle", "accepted")

    def __init__(self, key, sock):
        self.key, self.sock = key, sock
        self.idle = True  # handshaking or waiting for a request header: may be closed for room
        self.accepted = time.monotonic()


class Admission:
    """Decide at accept time who may hold one of the server's connections.

    Every connection costs memory and a file descriptor, so the server holds at most
    `total`, and one address (see address_key) at most `per_address`. A connection that
    is still in its TLS handshake or waiting for a request header is idle: when a cap is
    reached, the oldest idle connection (of that address, or of the address holding the
    most) is closed to make room, so a flood of silent connections only ever pushes out
    its own kind while logged-in WebSocket and long-polling requests, which are busy,
    keep their place. Only when nothing idle can go is the newcomer refused, at once
    and with a log line, instead of waiting in the kernel's queue.

    Admission sees the TCP peer before any HTTP, so behind a reverse proxy every client
    shares the proxy's address. Peers in `unlimited` (the trusted proxies) are therefore
    held only to `total`; the proxy limits connections per client itself.
    """

    def __init__(self, total, per_address, logger, unlimited=()):
        self.total = total
        self.per_address = per_address
        self._unlimited = unlimited  # supports `host in unlimited` (proxies.TrustedNetworks)
        self._by_sock = {}
        self._by_key = {}  # address key -> {sock: _Connection}, oldest first
        self._notices = Notices(logger)

    def __len__(self):
        return len(self._by_sock)

    def admit(self, sock, address):
        """Register a new connection, closing an idle one for room; False if there is none."""
        key = address_key(address[0])
        mine = self._by_key.get(key, {})
        capped = address[0] not in self._unlimited
        if capped and len(mine) >= self.per_address and not self._close_oldest_idle(mine):
            self._notices.note(("per-address", key), "refused a connection from %s: it already "
                               "holds %d busy connections (SENDAPP_MAX_CONNECTIONS_PER_IP)",
                               key, len(mine))
            return False
        if len(self._by_sock) >= self.total and not self._close_for_room():
            self._notices.note(("total", None), "refused a connection from %s: all %d "
                               "connections are busy (SENDAPP_MAX_CONNECTIONS)", key, self.total)
            return False
        connection = _Connection(key, sock)
        self._by_sock[sock] = connection
        self._by_key.setdefault(key, {})[sock] = connection
        return True

    def set_idle(self, sock, idle):
        connection = self._by_sock.get(sock)
        if connection is not None:
            connection.idle = idle

    def accepted_at(self, sock):
        connection = self._by_sock.get(sock)
        return connection.accepted if connection is not None else time.monotonic()

    def release(self, sock):
        """Forget a connection whose greenthread ended (or that was closed for room)."""
        connection = self._by_sock.pop(sock, None)
        if connection is None:
            return
        mine = self._by_key.get(connection.key)
        if mine is not None:
            mine.pop(sock, None)
            if not mine:
                del self._by_key[connection.key]

    def _close_for_room(self):
        """Close the oldest idle connection of the address holding the most connections."""
        for mine in sorted(self._by_key.values(), key=len, reverse=True):
            if self._close_oldest_idle(mine):
                return True
        return False

    def _close_oldest_idle(self, mine):
        for sock, connection in mine.items():
            if connection.idle:
                self.release(sock)
                try:  # the raw socket: wakes the greenthread blocked reading it with an EOF
                    _socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass
                self._notices.note(("idle", connection.key), "closed an idle connection from "
                                   "%s to make room", connection.key, level=logging.INFO)
                return True
        return False
