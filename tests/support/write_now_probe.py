"""Run under eventlet by tests/live/test_websocket_write_now.py: app.websocket_write_now on a
real eventlet WebSocket over a real TLS connection whose buffers are made small, so that
writes stop being taken at once. Prints one JSON object of what happened.

Usage (from the repository): python -m tests.support.write_now_probe CERT_DIR
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import json  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

from eventlet import websocket  # noqa: E402
from eventlet.green import ssl as green_ssl  # noqa: E402

import app as server  # noqa: E402
from sendapp import tls  # noqa: E402

BIG = 1024  # bytes of one frame written while nobody reads
MAX_FRAMES = 400  # frames tried at most before the socket must have said "later"
STEP = 10.0  # seconds any step may take


def tls_pair(cert_dir):
    """(server side, client side) of one TLS connection on 127.0.0.1, small buffers."""
    cert_path, key_path, _created = tls.ensure_certificate(cert_dir)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(listener.getsockname())
    accepted, _address = listener.accept()
    listener.close()
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    server_context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(cert_path), str(key_path))
    client_context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    server_side = eventlet.spawn(server_context.wrap_socket, accepted, server_side=True)
    client_side = client_context.wrap_socket(client)
    return server_side.wait(), client_side


def read_frames(sock, count):
    """`count` unmasked server frames: their payloads, in order."""
    buffer = b""
    frames = []
    while len(frames) < count:
        while True:
            frame = parse_one(buffer)
            if frame is None:
                break
            payload, used = frame
            frames.append(payload)
            buffer = buffer[used:]
        if len(frames) < count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
    return frames


def parse_one(buffer):
    """The unmasked frame at the start of `buffer`: (payload text, bytes used), or None
    while it is incomplete."""
    if len(buffer) < 2:
        return None
    length, at = buffer[1] & 0x7F, 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length, at = struct.unpack("!H", buffer[2:4])[0], 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, at = struct.unpack("!Q", buffer[2:10])[0], 10
    if len(buffer) < at + length:
        return None
    return buffer[at:at + length].decode(), at + length


def main(cert_dir):
    server_side, client_side = tls_pair(cert_dir)
    ws = websocket.RFC6455WebSocket(server_side, {}, version=13)
    write_now = server.websocket_write_now()
    out = {}

    # Small frames on an empty connection: written at once, in one write.
    out["small_rest"] = write_now(ws, ["4hello", "4world"]) is not None
    with eventlet.Timeout(STEP):
        out["small_read"] = read_frames(client_side, 2)

    # Frames while nobody reads: at some point the socket says "later".
    sent, rest = [], None
    while rest is None and len(sent) < MAX_FRAMES:
        frame = f"4{len(sent):04d}" + "x" * BIG
        rest = write_now(ws, [frame])
        sent.append(frame)
    out["frames_before_later"] = len(sent)
    out["later"] = rest is not None
    # While that write is unfinished, the send lock is held: another write waits its turn.
    queued = "4after"
    behind = write_now(ws, [queued])
    out["behind_is_later"] = behind is not None
    out["lock_held"] = ws._sendlock.locked()
    finishing = eventlet.spawn(rest)
    following = eventlet.spawn(behind)
    with eventlet.Timeout(STEP):
        received = read_frames(client_side, len(sent) + 1)
        finishing.wait()
        following.wait()
    out["all_received_in_order"] = received == sent + [queued]
    out["received"] = len(received)
    out["lock_released"] = not ws._sendlock.locked()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
