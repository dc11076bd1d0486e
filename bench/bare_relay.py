"""A bare Flask-SocketIO relay: the stack's ceiling that SendApp's figures are compared with.

Same stack as `python app.py` (Flask, Flask-SocketIO, python-socketio, eventlet's WSGI
server, the same certificate, TLS settings and ping settings) and nothing of SendApp: no
session, no database, no validation. A socket names its user and peer in the query
string and joins their pair room and its own user room; `send` gets an id, `from` and
`ts`, is emitted to the pair room (both sockets, as SendApp does; `--to peer`: only to
the peer's user room) and acked `{ok, id, ts}`.

As the stack's ceiling it sets TCP_NODELAY on every accepted socket (issue 8 asks the
same of SendApp): without it the ack, written right after the echo of the message on the
same socket, waits for the client's delayed ACK (~40 ms). `--nagle` leaves it off.
For the same reason it unmasks WebSocket frames as SendApp's edge does
(sendapp/websocket_mask.py, a fifth of eventlet's CPU per message); `--stock-mask` keeps
eventlet's own byte-by-byte loop (the stack as shipped). And it keeps its garbage
collector off old objects as app.py does (`keep_collector_off_survivors`); `--stock-gc`
leaves Python's defaults, under which full collections stall it 100-120 ms every few
seconds under load (docs/BENCHMARKS.md).

Run by the harness: `python bench/bare_relay.py --port P --cert-dir DIR` (127.0.0.1).
"""
if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

import argparse
import gc
import itertools
import logging
import os
import ssl
import sys
import time

from flask import Flask, request
from flask_socketio import SocketIO, join_room

ENVELOPE_FIELDS = ("v", "cid", "to", "sk", "rk", "n", "ct")
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"  # as app.py

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet", ping_interval=20, ping_timeout=20,
                    max_http_buffer_size=4 * 65_536 + 65_536)
_ids = itertools.count(1)
_people = {}  # socket sid → (user, peer)
_fanout = {"to": "pair"}


def pair_room(a, b):
    lo, hi = sorted((a, b))
    return f"pair:{lo}:{hi}"


@socketio.on("connect")
def on_connect(auth=None):
    """Join the pair room of the user and peer named in the query string."""
    user, peer = int(request.args["user"]), int(request.args["peer"])
    _people[request.sid] = (user, peer)
    join_room(pair_room(user, peer))
    join_room(f"user:{user}")


@socketio.on("disconnect")
def on_disconnect(reason=None):
    _people.pop(request.sid, None)


@socketio.on("send")
def on_send(data):
    """Relay an envelope to the pair room with id, from and ts; ack {ok, id, ts}."""
    user, peer = _people[request.sid]
    message = {name: data.get(name) for name in ENVELOPE_FIELDS}
    message.update(id=next(_ids), ts=int(time.time() * 1000))
    message["from"] = user
    room = pair_room(user, peer) if _fanout["to"] == "pair" else f"user:{peer}"
    socketio.emit("message", message, to=room)
    return {"ok": True, "id": message["id"], "ts": message["ts"]}


def keep_collector_off_survivors(every=1.0, thaw_every=600.0, start=None):
    """app.py's collector settings (`main` and `freeze_survivors`), which any server could
    have: what start-up made, and every second what survived, is frozen out of the
    collector's walks; every `thaw_every` s one full collection frees old cycles. Without
    them each full collection walks every Flask and eventlet object: a relay that is the
    stack's ceiling must not pause for that when SendApp does not."""
    import eventlet

    from sendapp.gc_survivors import frozen_survivors_loop

    gc.collect()
    gc.freeze()
    (start or eventlet.spawn)(frozen_survivors_loop(every, thaw_every, eventlet.sleep))


def listen(host, port, cert_dir):
    """A TLS listening socket made like app.py's `listen` (TLS 1.2+, AEAD suites)."""
    import socket as plain_socket

    from eventlet.green import ssl as green_ssl

    sock = plain_socket.socket(plain_socket.AF_INET, plain_socket.SOCK_STREAM)
    sock.setsockopt(plain_socket.SOL_SOCKET, plain_socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.load_cert_chain(os.path.join(cert_dir, "cert.pem"),
                            os.path.join(cert_dir, "key.pem"))
    return context.wrap_socket(sock, server_side=True)


class NoDelayListener:
    """The listening socket, with TCP_NODELAY set on every connection it accepts."""

    def __init__(self, sock):
        self._sock = sock

    def accept(self):
        import socket as plain_socket

        client, address = self._sock.accept()
        client.setsockopt(plain_socket.IPPROTO_TCP, plain_socket.TCP_NODELAY, 1)
        return client, address

    def __getattr__(self, name):
        return getattr(self._sock, name)


def main():
    import eventlet.wsgi

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", required=True)
    parser.add_argument("--nagle", action="store_true", help="leave TCP_NODELAY off")
    parser.add_argument("--stock-mask", action="store_true",
                        help="keep eventlet's own WebSocket unmasking")
    parser.add_argument("--stock-gc", action="store_true",
                        help="leave the garbage collector as Python sets it")
    parser.add_argument("--to", choices=("pair", "peer"), default="pair",
                        help="emit each message to the pair room (default) or the peer only")
    args = parser.parse_args()
    _fanout["to"] = args.to
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not args.stock_mask:
        import eventlet.websocket

        from sendapp.websocket_mask import unmask

        eventlet.websocket.RFC6455WebSocket._apply_mask = staticmethod(unmask)
    sock = listen(args.host, args.port, args.cert_dir)
    if not args.nagle:
        sock = NoDelayListener(sock)
    if not args.stock_gc:
        keep_collector_off_survivors()
    print(f"bare relay ready on https://{args.host}:{args.port}", flush=True)
    quiet = logging.getLogger("bare.access")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    eventlet.wsgi.server(sock, app, log=quiet, log_output=False, debug=False)


if __name__ == "__main__":
    sys.exit(main())
