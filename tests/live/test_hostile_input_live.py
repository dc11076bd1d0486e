"""The real server refuses hostile input cleanly, with no traceback in its log (issue 7 §5)."""
import asyncio
import ssl

import aiohttp
import pytest

from support.live_server import LiveServer
from support.people import registration_body

HUGE = "99999999999999999999999"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for this module; stopped by pid after."""
    live = LiveServer(tmp_path_factory.mktemp("hostile-live"))
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def alice(server):
    """A logged-in requests.Session with its CSRF token in the session headers."""
    session = server.http_session()
    token = session.get(server.url + "/api/csrf", timeout=10).json()["csrf_token"]
    body, _private, _public = registration_body("alice")
    response = session.post(server.url + "/api/register", json=body,
                            headers={"X-CSRFToken": token}, timeout=10)
    assert response.status_code == 201, response.text
    session.headers["X-CSRFToken"] = response.json()["csrf_token"]
    return session


@pytest.mark.parametrize("method,path,status", [
    ("POST", f"/api/friends/{HUGE}/accept", 404),
    ("DELETE", f"/api/friends/{HUGE}", 404),
    ("GET", f"/api/users/{HUGE}/keys", 404),
    ("GET", f"/api/conversations/{HUGE}/messages", 404),
    ("GET", f"/api/conversations/1/messages?before={HUGE}", 400),
    ("GET", f"/api/conversations/1/messages?limit={'9' * 5000}", 400),
])
def test_huge_integers_in_urls_are_refused_cleanly(server, alice, method, path, status):
    response = alice.request(method, server.url + path, timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["error"] == {404: "not_found", 400: "bad_request"}[status]
    assert "Traceback" not in server.log_text()


@pytest.mark.parametrize("path", ["/api/login", "/api/friends"])
def test_json_nested_100000_deep_is_400(server, alice, path):
    response = alice.post(server.url + path, data=DEEP, timeout=10,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"
    assert "Traceback" not in server.log_text()


def test_foreign_origin_is_refused_even_with_a_valid_token(server, alice):
    evil = alice.post(server.url + "/api/friends", json={"username": "nobody1"}, timeout=10,
                      headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"] == "cross_origin"
    same = alice.post(server.url + "/api/friends", json={"username": "nobody1"}, timeout=10,
                      headers={"Origin": server.url})
    absent = alice.post(server.url + "/api/friends", json={"username": "nobody1"}, timeout=10)
    # Both got past the origin and CSRF checks to the friend lookup itself.
    assert same.status_code == absent.status_code == 404
    assert same.json()["error"] == absent.json()["error"] == "not_found"
    assert "Traceback" not in server.log_text()


async def _deep_socket_packet(server, cookies):
    """Send a Socket.IO event nested 100,000 deep over a raw WebSocket; answer what follows."""
    context = ssl.create_default_context(cafile=str(server.cert_path))
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                     cookie_jar=jar) as http:
        headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in cookies)}
        url = server.url.replace("https://", "wss://") + "/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(url, headers=headers) as ws:
            assert (await ws.receive_str()).startswith("0{")
            await ws.send_str("40")
            assert (await ws.receive_str()).startswith("40{")
            await ws.send_str('421["sync",' + DEEP + "]")
            return await asyncio.wait_for(ws.receive(), 10)


def test_socket_packet_nested_100000_deep_drops_the_connection_with_one_log_line(server, alice):
    """An undecodable packet is not a client of ours: the connection goes (the real clients
    reconnect by themselves), with one line in the log and no traceback (edge.guard_messages)."""
    answer = asyncio.run(asyncio.wait_for(_deep_socket_packet(server, alice.cookies), 30))
    assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    log = server.log_text()
    assert "dropped a Socket.IO connection: bad packet (RecursionError)" in log
    assert "Traceback" not in log
    assert server.http_session().get(server.url + "/api/csrf", timeout=10).ok
