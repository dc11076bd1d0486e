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
- `close_unbound_sessions` ends Engine.IO sessions that never got a
  logged-in Socket.IO connection, so no account means no lasting connection.
- `EngineIOGate` answers an oversize long-polling POST with 413 before
  anything reads its body (Engine.IO would answer 400 only after the server
  had drained it), and refuses malformed payloads and upgrades with one line.
  It also hides a browser's permessage-deflate offer: every frame SendApp
  sends is ciphertext, which does not compress, and the compressor's window
  cost about 43 KB per socket and half a client's CPU (docs/BENCHMARKS.md).
"""
import io
import logging
import urllib.parse

from socketio import packet as sio_packet

from .wsgi_stack import flat

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
    """Make a python-socketio server drop, with one log line, a connection that sends garbage.

    Wraps the Engine.IO message handler (undecodable Socket.IO packets) and the WebSocket
    handler (frames that are not even Engine.IO packets), whatever the async mode.
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
            _drop(eio, socket, environ, f"bad packet ({_reason(error)})")
            server._binary_packet.pop(eio_sid, None)
            return None

    eio.on("message", guarded)
    websocket_driver = eio._async["websocket"]

    def guarded_websocket(handler, engineio_server):
        def guarded_handler(ws):
            try:
                return handler(ws)
            except BAD_PACKET_ERRORS as error:
                socket = getattr(handler, "__self__", None)  # engineio.Socket._websocket_handler
                environ = server.environ.get(getattr(socket, "sid", None)) or {}
                _drop(eio, socket, environ, f"bad Engine.IO frame ({_reason(error)})")
                return []

        return flat(websocket_driver(guarded_handler, engineio_server))  # its reader parks inside

    if websocket_driver is not None:
        eio._async["websocket"] = guarded_websocket


def close_unbound_sessions(server, grace):
    """Close an Engine.IO session that has no logged-in Socket.IO connection after `grace` s.

    Engine.IO keeps a session open as long as its client answers pings, whether or not a
    Socket.IO connection was ever accepted on it (ours refuses anonymous ones), so without
    this a client with no account could hold server connections forever.
    :param server: the socketio.Server Flask-SocketIO made (`socketio.server`).
    """
    eio = server.eio
    handle_connect = eio.handlers["connect"]

    def connect(eio_sid, environ, *args):
        result = handle_connect(eio_sid, environ, *args)
        eio.start_background_task(close_if_unbound, eio_sid, environ)
        return result

    def close_if_unbound(eio_sid, environ):
        eio.sleep(grace)
        socket = eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return
        if not any(server.manager.sid_from_eio_sid(eio_sid, namespace)
                   for namespace in list(server.manager.get_namespaces())):
            socket_environ = server.environ.get(eio_sid) or environ
            _drop(eio, socket, socket_environ, f"no logged-in connection after {grace:g} s")

    eio.on("connect", connect)


def unsent_packets(server):
    """Packets queued for this process's open Engine.IO sockets that no writer has taken yet
    (acks among them); app.py's drain waits for none before it drops the connections."""
    return sum(socket.queue.qsize() for socket in list(server.eio.sockets.values())
               if not socket.closed)


def _drop(eio, socket, environ, why):
    """Close an Engine.IO session now, without waiting for the client, and say why once."""
    log.info("%s dropped a Socket.IO connection: %s", environ.get("REMOTE_ADDR", "-"), why)
    if socket is not None:
        socket.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_ERROR)
        eio.sockets.pop(socket.sid, None)


def _reason(error):
    """A short reason that never quotes the client's data."""
    if isinstance(error, RefusedPacket):
        return str(error)
    return error.__class__.__name__


class EngineIOGate:
    """WSGI middleware in front of Engine.IO: refuse what it would mishandle, before it sees it.

    - A long-polling POST larger than Engine.IO accepts gets 413 at once, its body
      unread (the server edge then closes the connection instead of draining it).
    - A long-polling POST whose payload is not UTF-8 text of at most MAX_PACKETS valid
      client packets gets 400 and its session is closed. Engine.IO itself would log a
      traceback, or for an unknown packet type hold the request until the next poll.
    - A WebSocket upgrade without RFC 6455's key and version gets 400 (eventlet's
      fallback for pre-standard clients crashes on it).
    - A WebSocket upgrade's extension offers are removed, so no permessage-deflate is
      negotiated (ciphertext does not compress; see the module docstring).

    :param eio: the engineio.Server whose sessions a refused payload closes.
    """

    MAX_PACKETS = 16  # python-engineio's Payload.max_decode_packets
    CLIENT_PACKET_TYPES = frozenset("123456")  # CLOSE … NOOP; never OPEN, never binary ("b")

    def __init__(self, wsgi_app, eio, limit, path="/socket.io/"):
        self.wsgi_app = wsgi_app
        self.eio = eio
        self.limit = limit
        self.path = path

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method == "GET" and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            if not environ.get("HTTP_SEC_WEBSOCKET_KEY") or \
                    environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13":
                return self._refuse(environ, start_response, "400 Bad Request",
                                    "a WebSocket upgrade without Sec-WebSocket-Key/Version 13")
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        elif method == "POST":
            length = environ.get("CONTENT_LENGTH") or ""
            if length.isdigit() and int(length) > self.limit:
                return self._refuse(environ, start_response, "413 Content Too Large",
                                    f"a long-polling POST larger than {self.limit} bytes")
            if not length.isdigit():
                return self._refuse(environ, start_response, "411 Length Required",
                                    "a long-polling POST without Content-Length")
            body = environ["wsgi.input"].read(int(length))
            fault = self._payload_fault(body)
            if fault:
                self._close_session(environ)
                return self._refuse(environ, start_response, "400 Bad Request",
                                    f"a long-polling POST with {fault}")
            environ["wsgi.input"] = io.BytesIO(body)
        return self.wsgi_app(environ, start_response)

    def _payload_fault(self, body):
        """What is wrong with a long-polling payload, or None."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "a body that is not UTF-8"
        if not text:
            return None
        packets = text.split("\x1e")
        if len(packets) > self.MAX_PACKETS:
            return f"more than {self.MAX_PACKETS} packets"
        if any(packet[:1] not in self.CLIENT_PACKET_TYPES for packet in packets):
            return "an invalid packet type"
        return None

    def _close_session(self, environ):
        """End the session at once (Engine.IO's own close would wait for the next poll)."""
        sid = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("sid", [None])[0]
        socket = self.eio.sockets.get(sid) if sid else None
        if socket is not None:
            socket.close(wait=False, reason=self.eio.reason.TRANSPORT_ERROR)
            self.eio.sockets.pop(sid, None)

    @staticmethod
    def _refuse(environ, start_response, status, reason):
        log.info("%s refused %s", environ.get("REMOTE_ADDR", "-"), reason)
        body = f"refused: {reason}\n".encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body)))])
        return [body]
