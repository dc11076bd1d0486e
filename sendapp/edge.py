"""Refusals at the Socket.IO / Engine.IO edge, the same in every async mode.

python-socketio and python-engineio accept more than SendApp speaks and log
hostile input with tracebacks. This module narrows them, without touching
the server process (app.py) or the async library:

- `StrictPacket` refuses any Socket.IO packet that announces binary
  attachments (PROTOCOL §8 has none): python-socketio would otherwise keep
  every following frame until the announced count, up to ten digits, arrived.
- `guard_messages` turns a packet that cannot be decoded into one log line
  and a dropped connection, instead of a traceback and a connection that
  stays open for more.
- `PollingBodyLimit` answers an oversize long-polling POST with 413 before
  anything reads its body (Engine.IO would answer 400 only after the server
  had drained it).
"""
import logging

from socketio import packet as sio_packet

log = logging.getLogger(__name__)

# What a malformed packet raises while python-socketio decodes and dispatches it.
BAD_PACKET_ERRORS = (ValueError, TypeError, KeyError, IndexError, RecursionError, UnicodeError)


class RefusedPacket(ValueError):
    """A packet SendApp never accepts, whatever it carries."""


class StrictPacket(sio_packet.Packet):
    """A Socket.IO packet without binary attachments (announcing one is refused at decode)."""

    def decode(self, encoded_packet):
        if not isinstance(encoded_packet, str):
            raise RefusedPacket("binary frame")
        if encoded_packet[:1] in (str(sio_packet.BINARY_EVENT), str(sio_packet.BINARY_ACK)):
            raise RefusedPacket("binary attachments")
        count = super().decode(encoded_packet)
        if count:
            raise RefusedPacket("binary attachments")
        return count


def guard_messages(server):
    """Wrap the Engine.IO message handler of a python-socketio server: bad packet → drop.

    :param server: the socketio.Server Flask-SocketIO made (`socketio.server`).
    """
    eio = server.eio
    handle = eio.handlers["message"]

    def guarded(eio_sid, data):
        socket = eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return None  # the rest of a payload after a refusal
        try:
            return handle(eio_sid, data)
        except BAD_PACKET_ERRORS as error:
            environ = server.environ.get(eio_sid) or {}
            log.info("%s dropped a Socket.IO connection: bad packet (%s)",
                     environ.get("REMOTE_ADDR", "-"), _reason(error))
            server._binary_packet.pop(eio_sid, None)
            socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
            eio.sockets.pop(eio_sid, None)
            return None

    eio.on("message", guarded)


def _reason(error):
    """A short reason that never quotes the client's data."""
    if isinstance(error, RefusedPacket):
        return str(error)
    return error.__class__.__name__


class PollingBodyLimit:
    """WSGI middleware: 413 at once for an Engine.IO POST larger than the server accepts.

    The body is left unread; the server edge then closes the connection rather than
    reading what is left of it.
    """

    def __init__(self, wsgi_app, limit, path="/socket.io/"):
        self.wsgi_app = wsgi_app
        self.limit = limit
        self.path = path

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and \
                environ.get("PATH_INFO", "").startswith(self.path):
            refusal = self._refusal(environ)
            if refusal:
                status, reason = refusal
                log.info("%s refused a long-polling POST: %s", environ.get("REMOTE_ADDR", "-"),
                         reason)
                body = f"{reason}\n".encode()
                start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                        ("Content-Length", str(len(body)))])
                return [body]
        return self.wsgi_app(environ, start_response)

    def _refusal(self, environ):
        """(status, reason) for a body this endpoint will not read, else None."""
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > self.limit:
            return "413 Content Too Large", f"the body is larger than {self.limit} bytes"
        if not length and environ.get("HTTP_TRANSFER_ENCODING"):
            return "411 Length Required", "a Content-Length is required"
        return None
