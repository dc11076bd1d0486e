"""The transport edge of the real server process: floods, deadlines, caps, oversize bodies,
bad Socket.IO packets, headers on Engine.IO answers and TLS 1.2 cipher suites.

Every connection a test opens is closed by the test; every wait is bounded.
"""
import asyncio
import concurrent.futures
import itertools
import json
import os
import resource
import socket
import ssl
import time

import aiohttp
import pytest
import requests
import socketio

from sendapp.client import Account, HttpApi, RealtimeClient
from support.live_server import HOST, TEST_KDF_ITERATIONS as KDF, LiveServer

PASSWORD = "correct horse battery staple"
FLOOD = 1100  # more than eventlet's old fixed pool of 1,024
QUICK = 5.0  # seconds a normal user's step may take while the server is flooded
TRANSPORTS = ["websocket", "polling"]
_names = itertools.count(1)


# --- helpers ----------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def enough_file_descriptors():
    """Floods hold over a thousand sockets in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One default server for the tests that leave it as they found it; stopped by pid."""
    server = LiveServer(tmp_path_factory.mktemp("edge-shared"))
    server.start()
    yield server
    server.stop()


def tls_context(server, **options):
    context = ssl.create_default_context(cafile=str(server.cert_path))
    for name, value in options.items():
        setattr(context, name, value)
    return context


def tls_socket(server, timeout=QUICK, context=None):
    """A TLS connection to the server that has finished its handshake and sent nothing."""
    raw = socket.create_connection((HOST, server.port), timeout=timeout)
    try:
        return (context or tls_context(server)).wrap_socket(raw, server_hostname=HOST)
    except BaseException:
        raw.close()
        raise


def closed_by_server(sock, within):
    """True when the server closes the connection within `within` seconds."""
    sock.settimeout(within)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ssl.SSLError, ConnectionError):
        return True
    except TimeoutError:
        return False


def read_response(sock, within=QUICK):
    """Read one HTTP response head (and what follows it) within `within` seconds."""
    sock.settimeout(within)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def unique(prefix):
    return f"{prefix}{os.getpid() % 10000}x{next(_names)}"


def api_for(server):
    return HttpApi(server.url, ca=str(server.cert_path), timeout=QUICK)


def user_can_log_in_and_chat(server):
    """Register two people, log one in again, befriend, open sockets, send and receive."""
    alice = Account.register(api_for(server), unique("alice"), PASSWORD, min_iterations=KDF)
    bob = Account.register(api_for(server), unique("bob"), PASSWORD, min_iterations=KDF)
    alice = Account.login(api_for(server), alice.username, PASSWORD, min_iterations=KDF)
    assert alice.api.request_friend(bob.username) == {"status": "requested"}
    assert bob.api.accept_friend(alice.id)["id"] == alice.id

    async def chat():
        a = RealtimeClient(alice, request_timeout=QUICK)
        b = RealtimeClient(bob, request_timeout=QUICK)
        try:
            await a.connect(timeout=QUICK)
            await b.connect(timeout=QUICK)
            ack = await a.send_text(bob.id, "still here", timeout=QUICK)
            assert ack["ok"]
            got = await b.next_message(QUICK)
            assert (got.id, got.text) == (ack["id"], "still here")
        finally:
            await a.disconnect()
            await b.disconnect()

    asyncio.run(asyncio.wait_for(chat(), 4 * QUICK))


def open_many(count, opener):
    """Open `count` connections in parallel; return those that opened (failures are fine)."""
    def attempt(_):
        try:
            return opener()
        except OSError:
            return None

    with concurrent.futures.ThreadPoolExecutor(64) as workers:
        return [sock for sock in workers.map(attempt, range(count)) if sock is not None]


def close_all(sockets):
    for sock in sockets:
        try:
            sock.close()
        except OSError:
            pass


def register_session(server, username):
    """A requests.Session logged in as a new user (for raw Socket.IO tests)."""
    account = Account.register(api_for(server), username, PASSWORD, min_iterations=KDF)
    return account


def cookie_header(account):
    return "; ".join(f"{c.name}={c.value}" for c in account.api.session.cookies)


def assert_no_traceback(server):
    assert "Traceback" not in server.log_text()


# --- 1. floods of idle connections --------------------------------------------------------------
def test_idle_tls_flood_from_one_address_leaves_users_able_to_log_in_and_chat(live_server):
    flood = open_many(FLOOD, lambda: tls_socket(live_server, timeout=10))
    try:
        assert len(flood) > 300  # the flood really happened (most are closed for room later)
        started = time.monotonic()
        user_can_log_in_and_chat(live_server)
        assert time.monotonic() - started < 4 * QUICK
    finally:
        close_all(flood)
    assert "closed an idle connection from 127.0.0.1 to make room" in live_server.log_text()
    assert_no_traceback(live_server)


def test_silent_tcp_flood_from_one_address_leaves_users_able_to_log_in_and_chat(live_server):
    flood = open_many(FLOOD, lambda: socket.create_connection((HOST, live_server.port), 10))
    try:
        assert len(flood) > 300
        started = time.monotonic()
        user_can_log_in_and_chat(live_server)
        assert time.monotonic() - started < 4 * QUICK
    finally:
        close_all(flood)
    assert_no_traceback(live_server)


# --- deadlines ------------------------------------------------------------------------------------
@pytest.fixture
def short_deadlines(start_live_server):
    return start_live_server({"SENDAPP_HEADER_TIMEOUT": "1", "SENDAPP_IDLE_TIMEOUT": "1"})


def test_connection_without_a_request_header_is_closed(short_deadlines):
    silent = tls_socket(short_deadlines)
    dripping = tls_socket(short_deadlines)
    tcp_only = socket.create_connection((HOST, short_deadlines.port), timeout=QUICK)
    try:
        dripping.sendall(b"GET /api/csrf HTTP/1.1\r\n")  # a header that never ends
        started = time.monotonic()
        assert closed_by_server(silent, within=3)
        assert closed_by_server(dripping, within=3)
        assert closed_by_server(tcp_only, within=3)  # no ClientHello either
        assert time.monotonic() - started < 3
    finally:
        close_all([silent, dripping, tcp_only])
    assert_no_traceback(short_deadlines)


def test_kept_alive_connection_is_closed_when_idle(short_deadlines):
    sock = tls_socket(short_deadlines)
    try:
        sock.sendall(b"GET /api/csrf HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, within=3)
    finally:
        sock.close()


def read_whole_response(sock, within=QUICK):
    """One HTTP response with a Content-Length body: (head in lower case, body)."""
    data = read_response(sock, within)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a response body"
        body += chunk
    return head.lower(), body


def test_the_connection_header_is_still_read_after_the_environ_is_built(shared_server):
    """app.py keeps only the Connection header of a request's parsed header block."""
    sock = tls_socket(shared_server)
    try:
        sock.sendall(b"GET /api/csrf HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        head, _ = read_whole_response(sock)
        assert head.startswith(b"http/1.1 200") and b"connection: keep-alive" in head
        sock.sendall(b"GET /api/csrf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _ = read_whole_response(sock)
        assert head.startswith(b"http/1.1 200") and b"connection: keep-alive" not in head
        assert closed_by_server(sock, within=QUICK)
    finally:
        sock.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sockets_outlive_the_header_and_idle_deadlines(short_deadlines, transport):
    alice = Account.register(api_for(short_deadlines), unique("alice"), PASSWORD,
                             min_iterations=KDF)
    bob = Account.register(api_for(short_deadlines), unique("bob"), PASSWORD, min_iterations=KDF)
    alice.api.request_friend(bob.username)
    bob.api.accept_friend(alice.id)

    async def chat():
        polling = transport == "polling"
        a = RealtimeClient(alice, polling=polling, request_timeout=QUICK)
        b = RealtimeClient(bob, polling=polling, request_timeout=QUICK)
        try:
            await a.connect(timeout=QUICK)
            await b.connect(timeout=QUICK)
            sids = (a.sio.eio.sid, b.sio.eio.sid)
            await asyncio.sleep(3)  # three times both deadlines
            ack = await a.send_text(bob.id, "after a quiet while", timeout=QUICK)
            got = await b.next_message(QUICK)
            assert got.id == ack["id"]
            assert a.transport == b.transport == transport
            assert (a.sio.eio.sid, b.sio.eio.sid) == sids  # the same sessions: no reconnect
        finally:
            await a.disconnect()
            await b.disconnect()

    asyncio.run(asyncio.wait_for(chat(), 30))


def test_engineio_session_without_a_logged_in_socket_is_closed(short_deadlines):
    sid = polling_sid(short_deadlines)
    time.sleep(2.5)
    poll = short_deadlines.http_session().get(
        f"{short_deadlines.url}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=QUICK)
    assert poll.status_code == 400  # the session is gone, not a long-poll waiting for pings

    async def anonymous_websocket():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                ssl=tls_context(short_deadlines))) as session:
            async with session.ws_connect(
                    f"{short_deadlines.url}/socket.io/?EIO=4&transport=websocket") as ws:
                assert (await ws.receive(timeout=QUICK)).data.startswith("0")  # OPEN
                await ws.send_str("40")  # CONNECT without a session cookie: refused
                assert "unauthorized" in (await ws.receive(timeout=QUICK)).data
                started = time.monotonic()
                closing = await ws.receive(timeout=QUICK)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                        aiohttp.WSMsgType.CLOSING)
                assert time.monotonic() - started < 2

    asyncio.run(asyncio.wait_for(anonymous_websocket(), 3 * QUICK))
    assert "no logged-in connection after 1 s" in short_deadlines.log_text()
    assert_no_traceback(short_deadlines)


# --- caps -----------------------------------------------------------------------------------------
def busy_connection(server, sid):
    """A request the server is busy answering: a long-polling body announced, not all sent."""
    sock = tls_socket(server)
    sock.sendall(f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n4".encode())
    return sock


@pytest.mark.parametrize("setting", ["SENDAPP_MAX_CONNECTIONS_PER_IP",
                                     "SENDAPP_MAX_CONNECTIONS"])
def test_connection_past_a_cap_of_busy_ones_is_refused_at_once_and_logged(start_live_server,
                                                                           setting):
    server = start_live_server({setting: "4"})
    sid = polling_sid(server)
    busy = [busy_connection(server, sid) for _ in range(4)]
    try:
        time.sleep(0.3)  # the four requests are being read
        started = time.monotonic()
        with pytest.raises(OSError):  # reset during the handshake, not a hang
            tls_socket(server, timeout=QUICK)
        assert time.monotonic() - started < 1
    finally:
        close_all(busy)
    time.sleep(0.3)  # their greenthreads end
    assert server.http_session().get(server.url + "/api/csrf", timeout=QUICK).ok
    log = server.log_text()
    assert "refused a connection from 127.0.0.1" in log and setting in log
    assert_no_traceback(server)


# --- 2. binary attachments ------------------------------------------------------------------------
async def raw_socket(server, account, transport):
    """A logged-in python-socketio client connected over one transport, and its http session."""
    context = tls_context(server)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
    client = socketio.AsyncClient(http_session=http, reconnection=False, request_timeout=QUICK)
    await client.connect(server.url, transports=[transport],
                         headers={"Cookie": cookie_header(account)}, wait_timeout=QUICK)
    return client, http


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("packet", ['51234567890-["send",{"to":1}]', '51-["send",{"to":1}]',
                                    '61-[{"_placeholder":true,"num":0}]'])
def test_packet_announcing_binary_attachments_drops_the_connection(shared_server, transport,
                                                                   packet):
    account = register_session(shared_server, unique("binary"))
    log_start = len(shared_server.log_text())

    async def scenario():
        client, http = await raw_socket(shared_server, account, transport)
        gone = asyncio.Event()
        client.on("disconnect", lambda *reason: gone.set())
        try:
            await client.eio.send(packet)  # Engine.IO MESSAGE "4" + this Socket.IO packet
            await asyncio.sleep(0.5)  # alone in its long-polling POST
            for _ in range(3):  # what would have been kept as attachments
                if client.eio.state == "connected":
                    await client.eio.send(b"\x00" * 65536)
            await asyncio.wait_for(gone.wait(), QUICK)
        finally:
            await client.eio.disconnect(abort=True)
            await http.close()

    asyncio.run(asyncio.wait_for(scenario(), 3 * QUICK))
    log = shared_server.log_text()[log_start:]
    assert "dropped a Socket.IO connection: bad packet (binary attachments)" in log
    assert_no_traceback(shared_server)


# --- 3. oversize long-polling POSTs ---------------------------------------------------------------
def polling_sid(server):
    """Open an (anonymous) Engine.IO long-polling session; return its sid."""
    response = server.http_session().get(server.url + "/socket.io/?EIO=4&transport=polling",
                                         timeout=QUICK)
    assert response.ok
    return json.loads(response.text[1:])["sid"]


PACKET_LIMIT = 4 * 65_536 + 65_536  # max_http_buffer_size for the default SENDAPP_MAX_CIPHERTEXT


@pytest.mark.parametrize("announced, sent", [(PACKET_LIMIT + 1, PACKET_LIMIT + 1),
                                             (10**12, 65_536)])
def test_oversize_polling_post_gets_413_at_once_and_its_connection_closed(shared_server,
                                                                          announced, sent):
    sid = polling_sid(shared_server)
    sock = tls_socket(shared_server)
    try:
        head = (f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {announced}\r\n\r\n")
        sock.sendall(head.encode())
        try:
            sock.sendall(b"4" * sent)
        except OSError:
            pass  # the server may answer and close before all of it is sent
        started = time.monotonic()
        response = read_response(sock)
        assert response.startswith(b"HTTP/1.1 413"), response[:200]
        assert b"Content-Security-Policy" in response
        assert closed_by_server(sock, within=2)
        assert time.monotonic() - started < 2
    finally:
        sock.close()
    assert_no_traceback(shared_server)


# --- 4. global request-size limit -----------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/login", "/api/register", "/api/prelogin?username=x"])
def test_huge_json_body_gets_413_at_once_without_being_read(start_live_server, path):
    live_server = start_live_server({"SENDAPP_RATELIMIT": "on"})  # its keys look at bodies
    http = live_server.http_session()  # a valid CSRF token and cookie: past the CSRF check
    token = http.get(live_server.url + "/api/csrf", timeout=QUICK).json()["csrf_token"]
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    method = "GET" if "prelogin" in path else "POST"
    sock = tls_socket(live_server)
    try:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Cookie: {cookie}\r\nX-CSRFToken: {token}\r\n"
                     f"Content-Length: {10**12}\r\n\r\n".encode() + b'{"username": "' +
                     b"a" * 65_536)
        started = time.monotonic()
        response = read_response(sock)
        if method == "POST":
            assert response.startswith(b"HTTP/1.1 413"), response[:200]
            assert b'"error":"too_large"' in response
        else:
            assert response.startswith(b"HTTP/1.1 200")  # prelogin reads no body at all
        assert closed_by_server(sock, within=2)  # the rest of the body is never read
        assert time.monotonic() - started < 2
    finally:
        sock.close()
    assert_no_traceback(live_server)


def test_attachments_larger_than_the_json_limit_still_upload(shared_server):
    alice = Account.register(api_for(shared_server), unique("alice"), PASSWORD, min_iterations=KDF)
    bob = Account.register(api_for(shared_server), unique("bob"), PASSWORD, min_iterations=KDF)
    alice.api.request_friend(bob.username)
    bob.api.accept_friend(alice.id)
    data = os.urandom(3 * 1024 * 1024)  # three times SENDAPP_MAX_JSON_BYTES
    blob_id = alice.api.upload_blob(bob.id, data)
    assert bob.api.download_blob(blob_id) == data


# --- 5. security headers on Engine.IO answers -----------------------------------------------------
@pytest.mark.parametrize("query", ["EIO=4&transport=polling", "EIO=3&transport=polling",
                                   "EIO=4&transport=polling&sid=nosuchsession"])
def test_engineio_answers_carry_the_security_headers(shared_server, query):
    response = shared_server.http_session().get(f"{shared_server.url}/socket.io/?{query}",
                                              timeout=QUICK)
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["Referrer-Policy"] == "no-referrer"


# --- 8. TLS 1.2 cipher suites ---------------------------------------------------------------------
CBC_SUITES = ("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:"
              "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
              "AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA")


def tls12_context(server, ciphers):
    context = tls_context(server, maximum_version=ssl.TLSVersion.TLSv1_2)
    context.set_ciphers(ciphers)
    return context


def test_tls12_client_offering_only_cbc_suites_is_refused(shared_server):
    with pytest.raises(ssl.SSLError):
        tls_socket(shared_server, context=tls12_context(shared_server, CBC_SUITES)).close()


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                   "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_tls12_offers_aead_suites(shared_server, suite):
    sock = tls_socket(shared_server, context=tls12_context(shared_server, suite))
    try:
        assert sock.version() == "TLSv1.2" and sock.cipher()[0] == suite
    finally:
        sock.close()


# --- 6. a run of hostile input leaves one line each, no traceback ---------------------------------
def raw_exchange(server, data, tls=True, read=True):
    """Send bytes on a new connection (TLS or plain TCP) and read what comes back, bounded."""
    raw = socket.create_connection((HOST, server.port), timeout=QUICK)
    sock = tls_context(server).wrap_socket(raw, server_hostname=HOST) if tls else raw
    try:
        sock.sendall(data)
        if read:
            return read_response(sock, within=3)
        return b""
    except OSError:
        return b""
    finally:
        sock.close()


def polling_post(server, sid, body, content_type="text/plain;charset=UTF-8"):
    """POST a long-polling payload; None when the server closed before taking all of it."""
    try:
        return server.http_session().post(
            f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data=body,
            headers={"Content-Type": content_type}, timeout=QUICK)
    except requests.ConnectionError:
        return None


HOSTILE_SOCKET_PACKETS = [
    "9",  # unknown Socket.IO packet type
    '2["send"',  # broken JSON
    '2{"not":"a list"}',  # an event that is not a list
    "2" + "[" * 100_000,  # nested far too deep
    "0/admin,",  # a namespace SendApp does not have
    '2/admin,["send",{}]',  # an event to it
    "21234567890123[]",  # an id far too long
    '3999["ack"]',  # an ack nobody asked for
    '51-["send",{}]',  # binary attachments
    "4",  # a CONNECT_ERROR from a client
]


def test_hostile_input_is_refused_without_a_single_traceback(live_server):
    """Bad TLS, bad HTTP, bad Engine.IO and Socket.IO packets, oversize bodies, bad namespaces."""
    server = live_server
    # TLS: garbage instead of a ClientHello, plain HTTP, a CBC-only TLS 1.2 client
    raw_exchange(server, os.urandom(512), tls=False)
    raw_exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", tls=False)
    with pytest.raises(ssl.SSLError):
        tls_socket(server, context=tls12_context(server, CBC_SUITES))
    # HTTP framing
    for request in [b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
                    b"POST /api/login HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    b"POST /api/login HTTP/1.1\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\nhello",
                    b"POST /api/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    b"Content-Type: application/json\r\n\r\nzz\r\n",
                    b"GET /api/blobs/" + b"9" * 400 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"]:
        raw_exchange(server, request)
    # Engine.IO over polling
    http = server.http_session()
    for query in ["EIO=3&transport=polling", "EIO=4&transport=carrier-pigeon",
                  "EIO=4&transport=polling&sid=nosuchsession", "EIO=4&transport=polling&j=x"]:
        http.get(f"{server.url}/socket.io/?{query}", timeout=QUICK)
    http.post(f"{server.url}/socket.io/?EIO=4&transport=polling&sid=nosuchsession", data="4x",
              timeout=QUICK)
    for body in [b"\xff\xfe\x00garbage", "9nonsense", "", "4" * (PACKET_LIMIT + 1),
                 "\x1e".join(["4"] * 1000)]:
        polling_post(server, polling_sid(server), body)
    # Socket.IO packets from a logged-in client, over both transports
    account = register_session(server, unique("hostile"))

    async def send_packets(transport):
        for packet in HOSTILE_SOCKET_PACKETS:
            client, session = await raw_socket(server, account, transport)
            try:
                await client.eio.send(packet)
                await asyncio.sleep(0.05)
                if client.eio.state == "connected":
                    await client.eio.send(b"\x00binary")
                await asyncio.sleep(0.05)
            finally:
                await client.eio.disconnect(abort=True)
                await session.close()

    async def send_frames():  # Engine.IO frames that are not even Engine.IO
        for frame in ["9", "x", "", "0", "b" + "A" * 8, b"\x00binary"]:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                    ssl=tls_context(server))) as session:
                async with session.ws_connect(
                        f"{server.url}/socket.io/?EIO=4&transport=websocket",
                        headers={"Cookie": cookie_header(account)}) as ws:
                    await ws.receive(timeout=QUICK)  # the OPEN packet
                    await (ws.send_bytes if isinstance(frame, bytes) else ws.send_str)(frame)
                    await asyncio.sleep(0.05)

    for transport in TRANSPORTS:
        asyncio.run(asyncio.wait_for(send_packets(transport), 60))
    asyncio.run(asyncio.wait_for(send_frames(), 60))
    # oversize and malformed request bodies to the API
    token = http.get(server.url + "/api/csrf", timeout=QUICK).json()["csrf_token"]
    for body, kind in [(b"{" * 2_000_000, "application/json"), (b"x=" + b"a" * 2_000_000,
                       "application/x-www-form-urlencoded"), (b"\xff\xfe", "application/json")]:
        try:
            http.post(server.url + "/api/login", data=body, timeout=QUICK,
                      headers={"Content-Type": kind, "X-CSRFToken": token})
        except requests.ConnectionError:
            pass  # answered 413 and closed while the body was still being sent

    assert server.http_session().get(server.url + "/api/csrf", timeout=QUICK).ok
    server.stop()
    log = server.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 300:][:3000]
    assert "refused a long-polling POST" in log and "bad packet" in log
