"""The real server process: TLS, security headers, socket admission, clean stop and restart."""
import asyncio
import signal
import socket
import ssl
import time

import aiohttp
import pytest
import requests
import socketio
from cryptography.hazmat.primitives import serialization

from sendapp import tls
from support.live_server import LiveServer, ServerFailed
from support.people import registration_body

SOCKET_TIMEOUT = 10
STOP_BOUND = 6  # seconds: app.py gives requests 3 s after a stop signal
TRANSPORTS = ["websocket", "polling"]


def register(server, username):
    """Register over HTTPS as a browser would; return the logged-in requests.Session."""
    session = server.http_session()
    token = session.get(server.url + "/api/csrf", timeout=10).json()["csrf_token"]
    body, _private, _public = registration_body(username)
    response = session.post(server.url + "/api/register", json=body,
                            headers={"X-CSRFToken": token}, timeout=10)
    assert response.status_code == 201, response.text
    return session


def cookie_header(session):
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)


def _client_session(server):
    """An aiohttp session trusting only the server's certificate (no ssl_verify=False)."""
    context = ssl.create_default_context(cafile=str(server.cert_path))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))


async def _socket_attempt(server, transport, cookie):
    """Open one Socket.IO connection; return ("accepted", transport) or ("refused", data)."""
    http = _client_session(server)
    client = socketio.AsyncClient(http_session=http, reconnection=False,
                                  request_timeout=SOCKET_TIMEOUT)
    outcome = asyncio.get_running_loop().create_future()

    def settle(result):
        if not outcome.done():
            outcome.set_result(result)

    client.on("connect", lambda: settle(("accepted", client.transport())))
    client.on("connect_error", lambda data: settle(("refused", data)))
    try:
        headers = {"Cookie": cookie} if cookie else {}
        await client.connect(server.url, transports=[transport], headers=headers, wait=False)
        return await asyncio.wait_for(outcome, SOCKET_TIMEOUT)
    finally:
        # python-engineio 4.15's polling client loses its CLOSE packet and then waits for
        # the long-poll to end (up to pingInterval); abort instead of waiting 20 s.
        await client.eio.disconnect(abort=True)
        await http.close()


def connect_socket(server, transport, cookie=None):
    """Try a Socket.IO connection over one transport; return the server's answer."""
    return asyncio.run(asyncio.wait_for(_socket_attempt(server, transport, cookie),
                                        SOCKET_TIMEOUT * 2))


@pytest.mark.parametrize("path", ["/login", "/api/csrf"])
def test_https_responses_carry_security_headers(live_server, path):
    response = live_server.http_session().get(live_server.url + path, timeout=10)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_server_presents_its_certificate_for_loopback_names(live_server):
    sans = tls.certificate_sans(live_server.cert_path)
    assert {"localhost", "127.0.0.1", "::1"} <= set(sans)
    served = ssl.get_server_certificate(("127.0.0.1", live_server.port), timeout=10)
    leaf = tls.load_certificate(live_server.cert_path)  # cert.pem: the leaf, then its CA
    assert ssl.PEM_cert_to_DER_cert(served) == leaf.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_a_client_trusting_only_the_phone_ca_reaches_the_server(live_server, name):
    context = ssl.create_default_context(cafile=str(live_server.cert_dir / "ca.pem"))
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name) as sock:
            served = sock.getpeercert()
            assert served["issuer"] != served["subject"]  # the leaf, issued by ca.pem
            sock.sendall(b"GET /api/csrf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")


def test_plain_http_to_the_tls_port_fails(live_server):
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{live_server.port}/api/csrf", timeout=10)
    assert live_server.http_session().get(live_server.url + "/api/csrf", timeout=10).ok


def test_untrusted_certificate_is_logged_briefly_without_traceback(live_server):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(live_server.url + "/api/csrf", timeout=10)  # system CAs only
    assert live_server.http_session().get(live_server.url + "/api/csrf", timeout=10).ok
    log = live_server.log_text()
    assert "TLS handshake failed" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_anonymous_socket_is_refused(live_server, transport):
    assert connect_socket(live_server, transport) == ("refused", {"message": "unauthorized"})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logged_in_socket_is_accepted(live_server, transport):
    session = register(live_server, f"live_{transport}")
    cookie = cookie_header(session)
    assert connect_socket(live_server, transport, cookie) == ("accepted", transport)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_server_cleanly(live_server, signum):
    live_server.signal(signum)
    assert live_server.wait(timeout=10) == 0
    log = live_server.log_text()
    assert "SendApp stopped" in log.splitlines()
    assert "Traceback" not in log


def test_sigterm_with_a_connected_socket_stops_promptly(live_server):
    cookie = cookie_header(register(live_server, "lingering"))

    async def hold_socket_during_stop():
        http = _client_session(live_server)
        client = socketio.AsyncClient(http_session=http, reconnection=False)
        closed = asyncio.Event()
        client.on("disconnect", lambda *reason: closed.set())
        try:
            await client.connect(live_server.url, transports=["websocket"],
                                 headers={"Cookie": cookie}, wait_timeout=SOCKET_TIMEOUT)
            live_server.signal(signal.SIGTERM)
            await asyncio.wait_for(closed.wait(), SOCKET_TIMEOUT)  # the server closed it
        finally:
            await client.eio.disconnect(abort=True)
            await http.close()

    started = time.monotonic()
    asyncio.run(hold_socket_during_stop())
    assert live_server.wait(timeout=10) == 0
    assert time.monotonic() - started < STOP_BOUND
    assert "Traceback" not in live_server.log_text()


def test_restart_reuses_the_port_and_keeps_sessions(live_server):
    session = register(live_server, "restarter")
    port, fingerprint = live_server.port, tls.certificate_fingerprint(live_server.cert_path)
    live_server.restart()
    assert live_server.port == port
    assert tls.certificate_fingerprint(live_server.cert_path) == fingerprint  # not remade
    me = session.get(live_server.url + "/api/me", timeout=10)
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "restarter"
    assert live_server.log_text().count("SendApp stopped") == 1


def test_second_server_on_a_busy_port_refuses_to_start(live_server, tmp_path):
    other = LiveServer(tmp_path / "other", port=live_server.port)
    try:
        with pytest.raises(ServerFailed):
            other.start()
        assert other.process.returncode == 1
        assert f"Port {live_server.port} on 127.0.0.1 is in use" in other.log_text()
        assert "Traceback" not in other.log_text()
    finally:
        other.stop()
    assert live_server.http_session().get(live_server.url + "/api/csrf", timeout=10).ok


def test_log_holds_no_cookies_bodies_or_socket_ids(live_server):
    body, _private, _public = registration_body("quiet")
    session = live_server.http_session()
    token = session.get(live_server.url + "/api/csrf", timeout=10).json()["csrf_token"]
    response = session.post(live_server.url + "/api/register", json=body,
                            headers={"X-CSRFToken": token}, timeout=10)
    assert response.status_code == 201
    assert connect_socket(live_server, "polling", cookie_header(session))[0] == "accepted"
    live_server.stop()
    log = live_server.log_text()
    assert '"POST /api/register HTTP/1.1" 201' in log
    for secret in [body["auth"], body["vault"]["ct"], token,
                   *(cookie.value for cookie in session.cookies)]:
        assert secret not in log
    assert "sid=" not in log and "/socket.io/?" not in log


def test_killed_server_restarts_on_the_same_port(live_server):
    live_server.kill()
    live_server.start()
    assert live_server.http_session().get(live_server.url + "/api/csrf", timeout=10).ok
