"""A SQLite write lock held by another process (backup, CLI, migration) must not freeze the server.

The real server (`python app.py`: eventlet, TLS) keeps serving static files, Engine.IO and
socket events that only read while a send that cannot commit answers `retry` within a bound;
after the lock the same message (same cid) is stored exactly once.
"""
import asyncio
import sqlite3
import ssl
import sys
import textwrap
import time

import aiohttp
import socketio

from support.messages import text_envelope
from support.people import Person, registration_body

LOCK_SECONDS = 5.0
FAST = 0.5  # seconds: anything that does not need the write lock answers within this
RETRY_BOUND = 2.5  # seconds: the server gives up on the lock after ~2 s and answers `retry`
WAIT = 15

HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    connection = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.execute("COMMIT")
    print("released", flush=True)
""")


async def _person(http, server, username):
    """Register over HTTPS; return a Person (keys for envelopes) and its CSRF token."""
    async with http.get(server.url + "/api/csrf") as response:
        token = (await response.json())["csrf_token"]
    body, private, public = registration_body(username)
    async with http.post(server.url + "/api/register", json=body,
                         headers={"X-CSRFToken": token}) as response:
        assert response.status == 201, await response.text()
        data = await response.json()
    from sendapp import crypto

    return Person(username=username, client=None, id=data["user"]["id"], private_key=private,
                  public_key=public, key_id=crypto.key_id(public), csrf=data["csrf_token"])


async def _befriend(server, a_http, a, b_http, b):
    async with a_http.post(server.url + "/api/friends", json={"username": b.username},
                           headers=a.headers()) as response:
        assert response.status == 201
    async with b_http.post(server.url + f"/api/friends/{a.id}/accept",
                           headers=b.headers()) as response:
        assert response.status == 200


def _http(server):
    context = ssl.create_default_context(cafile=str(server.cert_path))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True),  # an IP host
                                 timeout=aiohttp.ClientTimeout(total=WAIT))


async def _socket(server, http):
    """A logged-in Socket.IO client sharing the HTTP session's cookies."""
    cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
    client = socketio.AsyncClient(http_session=_http(server), reconnection=False,
                                  request_timeout=WAIT)
    client.drops = []
    client.on("disconnect", lambda *reason: client.drops.append(reason))
    await client.connect(server.url, transports=["websocket"], headers={"Cookie": cookie},
                         wait_timeout=WAIT)
    return client


async def _timed(coroutine):
    started = time.monotonic()
    result = await coroutine
    return result, time.monotonic() - started


async def _get(http, url):
    async with http.get(url) as response:
        await response.read()
        return response.status


async def _probe_while(locked, server, http, bob_socket, alice):
    """Static file, Engine.IO handshake and a read-only socket event, timed, until released."""
    timings = []
    while not locked.done():
        status, seconds = await _timed(_get(http, server.url + "/static/js/crypto.js"))
        timings.append(("static", status, seconds))
        status, seconds = await _timed(
            _get(http, server.url + "/socket.io/?EIO=4&transport=polling"))
        timings.append(("engine.io", status, seconds))
        ack, seconds = await _timed(bob_socket.call("typing", {"to": alice.id, "on": True},
                                                    timeout=WAIT))
        timings.append(("typing", ack.get("ok"), seconds))
        await asyncio.sleep(0.1)
    return timings


async def _scenario(server):
    a_http, b_http, probe_http = _http(server), _http(server), _http(server)
    sockets = []
    lock = None
    try:
        alice = await _person(a_http, server, "alice")
        bob = await _person(b_http, server, "bob")
        await _befriend(server, a_http, alice, b_http, bob)
        alice_socket = await _socket(server, a_http)
        bob_socket = await _socket(server, b_http)
        sockets += [alice_socket, bob_socket]
        envelope = text_envelope(alice, bob, "sent during a backup")

        lock = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLD_LOCK, str(server.instance_path / "sendapp.sqlite3"),
            str(LOCK_SECONDS), stdout=asyncio.subprocess.PIPE)
        assert await asyncio.wait_for(lock.stdout.readline(), WAIT) == b"locked\n"
        released = asyncio.ensure_future(lock.wait())

        send = asyncio.ensure_future(_timed(alice_socket.call("send", envelope, timeout=WAIT)))
        timings = await _probe_while(released, server, probe_http, bob_socket, alice)
        ack, send_seconds = await send
        assert await asyncio.wait_for(lock.stdout.readline(), WAIT) == b"released\n"

        assert ack["ok"] is False and ack["error"] == "retry", ack
        assert send_seconds <= RETRY_BOUND, send_seconds
        assert len(timings) >= 6, timings  # the probes really ran during the lock
        slow = [t for t in timings if t[2] >= FAST or t[1] not in (200, True)]
        assert not slow, slow
        assert alice_socket.connected and bob_socket.connected
        assert alice_socket.drops == [] and bob_socket.drops == []

        again = await alice_socket.call("send", envelope, timeout=WAIT)
        assert again["ok"] is True, again
        twice = await alice_socket.call("send", envelope, timeout=WAIT)
        assert twice == again  # the dedup on (from, cid) answers the same id
        return envelope["cid"]
    finally:
        if lock is not None and lock.returncode is None:
            lock.kill()
            await lock.wait()
        for client in sockets:
            await client.eio.disconnect(abort=True)
            await client.eio.http.close()
        for http in (a_http, b_http, probe_http):
            await http.close()


def test_sqlite_lock_by_another_process_does_not_freeze_the_server(live_server):
    cid = asyncio.run(asyncio.wait_for(_scenario(live_server), 60))
    database = sqlite3.connect(live_server.instance_path / "sendapp.sqlite3")
    try:
        rows = database.execute("SELECT COUNT(*) FROM messages WHERE cid = ?", (cid,)).fetchone()
    finally:
        database.close()
    assert rows == (1,)
    log = live_server.log_text()
    assert "Traceback" not in log
    assert "database is locked" in log  # one line says why the send was refused
