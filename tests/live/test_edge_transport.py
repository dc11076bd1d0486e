"""The transport under SendApp's WebSocket traffic: no permessage-deflate, no Nagle delay.

- The real server process (eventlet, TLS): a WebSocket upgrade that offers permessage-deflate
  gets 101 without Sec-WebSocket-Extensions. eventlet would negotiate the offer; the
  EngineIOGate (sendapp/edge.py) removes it first.
- TCP_NODELAY: a socket option cannot be read from outside the server process (`ss` and
  /proc/net/tcp do not show it), so the accept path of app.py (`_AdmittingListener` with a
  real `Admission`) is run in-process on a real TCP connection and the accepted socket's
  option is read with getsockopt; a plain accept is the control that shows it starts off.
"""
import asyncio
import base64
import hashlib
import logging
import os
import socket

import aiohttp
import pytest

import app as server_module
from sendapp.admission import Admission
from support.live_server import HOST
from tests.live.test_edge import read_response, tls_context, tls_socket

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
QUICK = 5.0


def upgrade_request(key, extensions):
    return (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {HOST}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Extensions: {extensions}\r\n\r\n").encode()


def head_of(response):
    """(status line, {lower-case header name: value}) of a raw HTTP response head."""
    lines = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


@pytest.mark.parametrize("offer", [
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate",
])
def test_websocket_upgrade_offering_deflate_gets_101_without_extensions(live_server, offer):
    key = base64.b64encode(os.urandom(16)).decode()
    sock = tls_socket(live_server)
    try:
        sock.sendall(upgrade_request(key, offer))
        status, headers = head_of(read_response(sock))
    finally:
        sock.close()
    assert status.startswith("HTTP/1.1 101"), status
    expected_accept = base64.b64encode(
        hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
    assert headers.get("sec-websocket-accept") == expected_accept
    assert "sec-websocket-extensions" not in headers, headers


def test_a_compressing_websocket_client_ends_up_uncompressed(live_server):
    """aiohttp offers permessage-deflate (compress=15) and uses it if the server agrees."""
    async def connect():
        ssl_context = tls_context(live_server)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                    f"{live_server.url}/socket.io/?EIO=4&transport=websocket",
                    ssl=ssl_context, compress=15, timeout=aiohttp.ClientWSTimeout(ws_close=QUICK)
            ) as ws:
                opened = await ws.receive(timeout=QUICK)
                return ws.compress, opened.data

    compress, opened = asyncio.run(asyncio.wait_for(connect(), 3 * QUICK))
    assert opened.startswith("0{")  # Engine.IO's OPEN packet: the WebSocket really works
    assert compress == 0


def _connected_pair(accept):
    """Connect a client to a fresh listener and accept it with `accept(listener)`."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname(), timeout=QUICK)
    try:
        accepted, _address = accept(listener)
    finally:
        listener.close()
    return client, accepted


def _no_delay(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_plain_accepted_socket_starts_with_nagle_on():
    """The control: without the server's accept path, TCP_NODELAY is off."""
    client, accepted = _connected_pair(lambda listener: listener.accept())
    with client, accepted:
        assert _no_delay(accepted) == 0


def test_the_servers_accept_path_turns_nagle_off():
    admission = Admission(total=8, per_address=8, logger=logging.getLogger(__name__))
    client, accepted = _connected_pair(
        lambda listener: server_module._AdmittingListener(listener, admission).accept())
    with client, accepted:
        assert _no_delay(accepted) != 0
        client.sendall(b"x")  # the accepted socket is the live connection, not a copy
        accepted.settimeout(QUICK)
        assert accepted.recv(1) == b"x"
