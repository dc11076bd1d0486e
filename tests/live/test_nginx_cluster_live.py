"""Two real server processes behind the shipped deploy/nginx.conf (support.cluster).

Both processes share one PostgreSQL scratch database, one redis-server of the test's own as
the message queue and one secret key; clients talk only to nginx, except where a test says
it goes to one process directly. Which process serves whom is read from the processes' own
access logs (`Cluster.backend_of`), and sessions are logged in until they land where a test
wants them (`Cluster.log_in_on`, bounded).
"""
import asyncio
import http.client
import ssl
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from sendapp.client import ApiFailure, HttpApi
from support.cluster import Cluster
from support.redis_server import RedisMissing
from support.live_clients import WAIT, befriend, live, quiet, receive, register, run
from support.live_server import ROOT
from support.proxy import MARK, SHIPPED_CONFIG, NginxMissing, nginx_binary
from support.services import scratch_postgres_database, unavailable

MiB = 1024 * 1024
CLOSE_WITHIN = 2.0  # seconds from a revocation to the socket closing (0.5 s checks + proxy)
PRESENCE_WITHIN = 5.0
TRANSPORTS = ["websocket", "polling"]


# --- fixtures and helpers ---------------------------------------------------------------------
def start_cluster(folder, database_url):
    """Two processes behind nginx; a missing nginx or redis-server skips, or fails in CI."""
    try:
        nginx_binary()
        return Cluster(folder, database_url, processes=2).start()
    except NginxMissing as missing:
        unavailable("nginx", missing)
    except RedisMissing as missing:
        unavailable("redis-server", missing)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster for the tests that leave both processes running (users are unique)."""
    with scratch_postgres_database() as url:
        started = start_cluster(tmp_path_factory.mktemp("nginx-cluster"), url)
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture
def own_cluster(tmp_path):
    """A cluster for one test that kills its processes."""
    with scratch_postgres_database() as url:
        started = start_cluster(tmp_path, url)
        try:
            yield started
        finally:
            started.stop()


def on_process(cluster, account, backend):
    """`account` itself when nginx already sends its session to `backend`, else a new
    session of it that lands there."""
    if cluster.backend_of(account.api.cookie_header()) == backend:
        return account
    return cluster.log_in_on(backend, account.username)


def friends_apart(cluster):
    """alice and bob, friends, alice's session on process 0 and bob's on process 1."""
    alice, bob = register(cluster.proxy, "alice"), register(cluster.proxy, "bob")
    befriend(alice, bob)
    return on_process(cluster, alice, 0), on_process(cluster, bob, 1)


def from_them(user_id):
    return lambda message: message.sender == user_id


class Events:
    """A RealtimeClient's `on_event` callback that keeps what it heard, with times."""

    def __init__(self):
        self.heard = []

    def __call__(self, name, data):
        self.heard.append((name, data, time.monotonic()))

    def named(self, name):
        return [(data, at) for heard, data, at in self.heard if heard == name]

    async def wait_for(self, name, data=None, timeout=WAIT):
        """The time of the first `name` event (with exactly `data`, when given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got, at in self.named(name):
                if data is None or got == data:
                    return at
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {name} {data or ''} within {timeout} s; heard {self.heard}")


async def socket_requests_reach(cluster, offsets, backend, timeout=5.0):
    """Engine.IO requests logged since `offsets`, per process, once `backend` has some."""
    deadline = time.monotonic() + timeout
    while True:
        lines = cluster.requests_since(offsets, "/socket.io/")
        if lines[backend] or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.05)


async def collect(client, sender_id, count, timeout=WAIT):
    """Messages from `sender_id` delivered to `client`, until `count` or `timeout` seconds."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and (left := deadline - time.monotonic()) > 0:
        try:
            message = await client.next_message(left)
        except asyncio.TimeoutError:
            break
        if message.sender == sender_id:
            got.append(message)
    return got


def flask_cli(backend, *args):
    """`flask --app app …` as its own process with one server process's settings."""
    done = subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "app", *args],
                          cwd=ROOT, env=dict(backend.env), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def stored_messages(database_url, sender_ids):
    """(sender, recipient, cid) of every stored message of these senders."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT sender_id, recipient_id, cid FROM messages "
                       "WHERE sender_id = ANY(%s)", (list(sender_ids),))
        rows = cursor.fetchall()
    connection.close()
    return rows


# --- the proxy's front door -----------------------------------------------------------------
def test_tests_run_the_shipped_config_changing_only_its_marked_lines(cluster):
    shipped = SHIPPED_CONFIG.read_text().splitlines()
    running = cluster.proxy.site_path.read_text().splitlines()
    assert len(running) == len(shipped)  # two processes: no `server` line added
    changed = [(old, new) for old, new in zip(shipped, running) if old != new]
    assert len(changed) == 8, changed  # 2 listen, 2 server, certificate, key, CA, access log
    assert all(MARK in old and MARK in new for old, new in changed), changed


def test_host_with_port_reaches_the_processes_for_origin_checks(cluster):
    """Engine.IO and SendApp compare Origin with the Host they see: nginx's own, port included."""
    alice = register(cluster.proxy, "alice")
    handshake = "/socket.io/?EIO=4&transport=polling"
    with cluster.proxy.http_session() as session:
        ours = session.get(cluster.proxy.url + handshake, headers={"Origin": cluster.proxy.url},
                           timeout=10)
        assert ours.status_code == 200 and ours.text.startswith("0{"), ours.text
        backend_origin = cluster.backends[0].url  # what a Host rewritten to the upstream means
        foreign = session.get(cluster.proxy.url + handshake, headers={"Origin": backend_origin},
                              timeout=10)
        assert foreign.status_code == 400
        headers = {"Cookie": alice.api.cookie_header(), "X-CSRFToken": alice.api.csrf_token}
        refused = session.post(cluster.proxy.url + "/api/logout",
                               headers={**headers, "Origin": backend_origin}, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"] == "cross_origin"
        accepted = session.post(cluster.proxy.url + "/api/logout",
                                headers={**headers, "Origin": cluster.proxy.url}, timeout=10)
        assert accepted.status_code in (200, 204), accepted.text
    with pytest.raises(ApiFailure) as ended:
        alice.api.me()
    assert ended.value.status == 401


def test_plain_http_redirects_to_https(cluster):
    connection = http.client.HTTPConnection("127.0.0.1", cluster.proxy.http_port, timeout=10)
    try:
        connection.request("GET", "/chat?x=1")
        answer = connection.getresponse()
        assert answer.status == 301
        assert answer.getheader("Location") == "https://127.0.0.1/chat?x=1"
    finally:
        connection.close()


def test_attachment_limit_is_the_same_at_the_proxy(cluster):
    """A 25 MiB ciphertext passes nginx, is stored by one process and read through the
    other (one SENDAPP_BLOB_DIR); one byte more is refused by nginx itself, in SendApp's
    JSON shape, before any body is sent."""
    alice, bob = friends_apart(cluster)
    blob = alice.api.upload_blob(bob.id, bytes(25 * MiB))
    assert len(bob.api.download_blob(blob)) == 25 * MiB
    context = ssl.create_default_context(cafile=str(cluster.proxy.cert_path))
    connection = http.client.HTTPSConnection("127.0.0.1", cluster.proxy.port, context=context,
                                             timeout=10)
    try:
        connection.putrequest("POST", f"/api/blobs?to={bob.id}")
        for name, value in (("Cookie", alice.api.cookie_header()),
                            ("X-CSRFToken", alice.api.csrf_token),
                            ("Content-Type", "application/octet-stream"),
                            ("Content-Length", str(25 * MiB + 1))):
            connection.putheader(name, value)
        connection.endheaders()  # and no body
        answer = connection.getresponse()
        assert answer.status == 413
        assert answer.getheader("Content-Type") == "application/json"
        body = answer.read()
    finally:
        connection.close()
    assert b'"error": "too_large"' in body and b"larger than the server accepts" in body


# --- two processes, one conversation -----------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_friends_on_different_processes_talk_through_the_proxy(cluster, transport):
    """Messages both ways, typing and read markers, alice on process 0 and bob on process 1."""
    alice, bob = friends_apart(cluster)
    heard_by_alice, heard_by_bob = Events(), Events()

    async def scenario():
        polling = transport == "polling"
        offsets = cluster.log_offsets()
        async with live(alice, polling=polling, on_event=heard_by_alice) as a:
            lines = await socket_requests_reach(cluster, offsets, 0)
            assert lines[0] and not lines[1], lines  # alice's socket: process 0 only
            offsets = cluster.log_offsets()
            async with live(bob, polling=polling, on_event=heard_by_bob) as b:
                assert (await socket_requests_reach(cluster, offsets, 1))[1]
                assert a.transport == b.transport == transport
                sent = [await a.send_text(bob.id, f"to bob {i}", timeout=WAIT) for i in range(3)]
                got = await receive(b, 3, where=from_them(alice.id))
                assert [(m.id, m.text) for m in got] == [(ack["id"], f"to bob {i}")
                                                         for i, ack in enumerate(sent)]
                replies = [await b.send_text(alice.id, f"to alice {i}", timeout=WAIT)
                           for i in range(3)]
                got = await receive(a, 3, where=from_them(bob.id))
                assert [(m.id, m.text) for m in got] == [(ack["id"], f"to alice {i}")
                                                         for i, ack in enumerate(replies)]

                await a.typing(bob.id, True)
                await heard_by_bob.wait_for("typing", {"from": alice.id, "on": True})
                await b.typing(alice.id, False)
                await heard_by_alice.wait_for("typing", {"from": bob.id, "on": False})

                await b.read(alice.id, sent[-1]["id"])
                await heard_by_alice.wait_for(
                    "read", {"from": bob.id, "to": alice.id, "up_to": sent[-1]["id"]})
                await a.read(bob.id, replies[-1]["id"])
                await heard_by_bob.wait_for(
                    "read", {"from": alice.id, "to": bob.id, "up_to": replies[-1]["id"]})
                assert not heard_by_alice.named("disconnected")
                assert not heard_by_bob.named("disconnected")

    run(scenario(), timeout=90)
    assert cluster.backend_of(alice.api.cookie_header()) == 0  # still where they were
    assert cluster.backend_of(bob.api.cookie_header()) == 1


def test_friends_on_different_processes_see_each_other_online(cluster):
    """Presence across processes (GET /api/friends), then offline once the friend leaves."""
    alice, bob = friends_apart(cluster)

    def online(account, friend_id):
        return next(f["online"] for f in account.api.friends()["friends"] if f["id"] == friend_id)

    async def until(check, expected):
        deadline = time.monotonic() + PRESENCE_WITHIN
        while (got := await asyncio.to_thread(check)) != expected:
            if time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.1)
        return got

    async def scenario():
        async with live(alice):
            async with live(bob):
                assert await until(lambda: online(alice, bob.id), True) is True
                assert await until(lambda: online(bob, alice.id), True) is True
            assert await until(lambda: online(alice, bob.id), False) is False

    run(scenario())


# --- revocation across processes ---------------------------------------------------------------
def test_logout_on_one_process_closes_the_sessions_socket_on_the_other(cluster):
    alice = on_process(cluster, register(cluster.proxy, "alice"), 0)
    other_device = cluster.log_in_on(1, alice.username)
    heard, other_heard = Events(), Events()

    async def scenario():
        async with live(alice, reconnection=False, on_event=heard) as socket, \
                live(other_device, reconnection=False, on_event=other_heard) as other:
            # The logout goes to process 1 itself: through nginx it would reach process 0.
            direct = HttpApi(cluster.backends[1].url, ca=str(cluster.backends[1].cert_path))
            direct.session.headers["Cookie"] = alice.api.cookie_header()
            direct.csrf_token = alice.api.csrf_token
            await asyncio.to_thread(direct.logout)
            done = time.monotonic()
            closed = await heard.wait_for("disconnected", timeout=CLOSE_WITHIN + 1)
            assert closed - done <= CLOSE_WITHIN and not socket.connected
            await asyncio.sleep(0.6)  # a check later, the other session's socket is still up
            assert other.connected and not other_heard.named("disconnected")

    run(scenario())
    with pytest.raises(ApiFailure) as ended:
        alice.api.me()
    assert ended.value.status == 401
    assert other_device.api.me()["id"] == alice.id


def test_disable_closes_the_users_sockets_on_every_process(cluster):
    alice, bob = friends_apart(cluster)
    second = cluster.log_in_on(1, alice.username)  # alice on both processes, bob on process 1
    heard = [Events(), Events()]
    bystander = Events()

    async def scenario():
        async with live(alice, reconnection=False, on_event=heard[0]), \
                live(second, reconnection=False, on_event=heard[1]), \
                live(bob, reconnection=False, on_event=bystander) as b:
            await asyncio.to_thread(flask_cli, cluster.backends[1], "users", "disable",
                                    alice.username)
            done = time.monotonic()
            for events in heard:
                closed = await events.wait_for("disconnected", timeout=CLOSE_WITHIN + 1)
                assert closed - done <= CLOSE_WITHIN
            await asyncio.sleep(0.6)
            assert b.connected and not bystander.named("disconnected")

    run(scenario())


# --- a process dies -------------------------------------------------------------------------------
def test_kill_9_of_a_process_while_three_clients_send_loses_and_repeats_nothing(own_cluster):
    """ann and cat on process 0, ben on process 1; each sends 20 messages to the next
    (ann → ben → cat → ann) while process 0 is killed. The clients on it reconnect through
    nginx to process 1 and resend their outbox with the same cids: every message is stored
    once and each receiver sees each once."""
    cluster = own_cluster
    ann, ben, cat = (register(cluster.proxy, name) for name in ("ann", "ben", "cat"))
    for one, other in ((ann, ben), (ben, cat), (cat, ann)):
        befriend(one, other)
    ann, ben, cat = (on_process(cluster, ann, 0), on_process(cluster, ben, 1),
                     on_process(cluster, cat, 0))
    receiver = {ann.id: ben, ben.id: cat, cat.id: ann}
    per_sender = 20
    queued = {}

    async def scenario():
        heard = {a.id: Events() for a in (ann, ben, cat)}
        clients = {a.id: live(a, on_event=heard[a.id]) for a in (ann, ben, cat)}
        for client in clients.values():
            await client.connect()
        try:
            progress = asyncio.Event()
            held_over = {}

            async def send_all(account):
                client, to = clients[account.id], receiver[account.id]
                cids = queued.setdefault(account.id, [])
                for i in range(per_sender):
                    cids.append(await client.queue_text(to.id, f"{account.username} #{i}"))
                    if sum(len(c) for c in queued.values()) >= 15:
                        progress.set()
                    await asyncio.sleep(0.05)

            async def kill_process_0():
                await asyncio.wait_for(progress.wait(), WAIT)
                await asyncio.to_thread(cluster.backends[0].kill)
                # Until ann and cat are back, their outboxes keep what they could not send.
                deadline = time.monotonic() + WAIT
                while time.monotonic() < deadline and not (
                        all(clients[a.id].ready for a in (ann, cat)) and held_over):
                    for account in (ann, cat):
                        if not clients[account.id].ready:
                            held = len(clients[account.id].pending)
                            held_over[account.id] = max(held_over.get(account.id, 0), held)
                    await asyncio.sleep(0.01)

            await asyncio.gather(kill_process_0(), *(send_all(a) for a in (ann, ben, cat)))
            for client in clients.values():
                await client.flush(timeout=60)
            for sender in (ann, ben, cat):
                to = receiver[sender.id]
                got = await collect(clients[to.id], sender.id, per_sender)
                assert sorted(m.text for m in got) == sorted(
                    f"{sender.username} #{i}" for i in range(per_sender)), (
                    sender.username, [(m.id, m.text) for m in got], heard[to.id].heard)
                assert sorted(m.cid for m in got) == sorted(queued[sender.id])
            extra = await asyncio.gather(*(quiet(c, 1.0) for c in clients.values()))
            for late in extra:
                assert [m for m in late if not m.mine] == [], "a message was shown twice"
            # ann and cat lost their socket and came back; ben's stayed up.
            for account in (ann, cat):
                assert heard[account.id].named("disconnected")
                assert len(heard[account.id].named("connected")) >= 2
                assert clients[account.id].ready
            assert not heard[ben.id].named("disconnected")
            assert held_over.get(ann.id) and held_over.get(cat.id), held_over
        finally:
            for client in clients.values():
                await client.disconnect()

    run(scenario(), timeout=100)
    assert not cluster.backends[0].running()
    assert cluster.backend_of(ann.api.cookie_header()) == 1  # nginx skips the dead process
    rows = stored_messages(cluster.database_url, receiver)
    for sender_id, to in receiver.items():
        cids = [cid for sender, recipient, cid in rows if sender == sender_id]
        assert sorted(cids) == sorted(queued[sender_id]), "a message was lost or stored twice"
        assert {recipient for sender, recipient, _cid in rows if sender == sender_id} == {to.id}

    # With no process left, nginx answers in SendApp's error shape: try again later.
    cluster.backends[1].kill()
    with cluster.proxy.http_session() as session:
        answer = session.get(cluster.proxy.url + "/api/me", timeout=20)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["error"] == "retry"
