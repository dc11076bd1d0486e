"""Operations on the real server process: /healthz and /readyz, a message queue that does not
answer at start or goes away later, and the drain on SIGTERM.

Redis is a redis-server of the test's own on a free port (killed and started again by pid);
the clients are python-socketio clients on real accounts.
"""
import asyncio
import re
import signal
import sqlite3
import ssl
import time

import aiohttp
import pytest
import socketio

from support.live_people import add_device, befriend_live, connect_socket, register_live
from support.live_server import LiveServer, ServerFailed, free_port
from support.messages import text_envelope
from support.redis_server import RedisServer
from support.waiting import wait_for

TIMEOUT = 10  # seconds for one request, ack or expected event
STOP_BOUND = 5.0  # seconds from SIGTERM (after the drain delay) to the process's exit
OUTAGE_SENDS = 10
ACK_BOUND = 1.5  # seconds one send may take while Redis is away (no back-off before the ack)



@pytest.fixture
def redis_process(tmp_path):
    process = RedisServer(tmp_path)
    yield process.start()
    process.kill()


def readyz(server):
    """(status code, JSON) of GET /readyz."""
    answer = server.http_session().get(server.url + "/readyz", timeout=TIMEOUT)
    return answer.status_code, answer.json()


def wait_for_readyz(server, status, within):
    """Poll /readyz until it answers `status`; answers the last (status, JSON)."""
    deadline = time.monotonic() + within
    while True:
        seen = readyz(server)
        if seen[0] == status or time.monotonic() >= deadline:
            return seen
        time.sleep(0.1)


def test_healthz_and_readyz_answer_on_the_real_server(live_server):
    session = live_server.http_session()
    alive = session.get(live_server.url + "/healthz", timeout=TIMEOUT)
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}
    assert readyz(live_server) == (200, {"status": "ready"})


def test_a_closed_queue_port_refuses_to_start_with_one_clear_line(tmp_path):
    port = free_port()  # nothing listens there
    server = LiveServer(tmp_path, env={
        "SENDAPP_MESSAGE_QUEUE": f"redis://:hunter2@127.0.0.1:{port}/0"})
    started = time.monotonic()
    with pytest.raises(ServerFailed):
        server.start()
    took = time.monotonic() - started
    log = server.log_text()
    assert server.process.returncode == 1
    assert took < 20  # QUEUE_START_WAIT (5 s) plus start-up, not a hang
    lines = [line for line in log.splitlines() if "SENDAPP_MESSAGE_QUEUE" in line]
    assert len(lines) == 1, log
    assert "does not answer" in lines[0] and "Connection refused" in lines[0]
    assert f"redis://127.0.0.1:{port}/0" in lines[0]
    assert "hunter2" not in log
    assert "SendApp ready" not in log and "Traceback" not in log


def test_queue_outage_keeps_acking_logs_once_and_recovers(start_live_server, tmp_path,
                                                          redis_process):
    """Two processes on one database and Redis; alice on the first, bob on the second."""
    shared = {"SENDAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
              "SENDAPP_SECRET_KEY": "shared-secret-for-two-processes",
              "SENDAPP_MESSAGE_QUEUE": redis_process.url}
    first, second = start_live_server(shared), start_live_server(shared)
    assert readyz(first) == (200, {"status": "ready"})
    assert readyz(second) == (200, {"status": "ready"})
    alice, bob = register_live(first, "qalice"), register_live(first, "qbob")
    befriend_live(first, alice, bob)
    on_second = add_device(second, bob)
    relayed = []
    alice_socket = connect_socket(first, alice.devices[0])
    bob_socket = connect_socket(second, on_second, relayed.append)
    try:
        ack = alice_socket.call("send", text_envelope(alice, bob, "before"), timeout=TIMEOUT)
        assert ack["ok"], ack
        assert wait_for(lambda: [m["id"] for m in relayed] == [ack["id"]], TIMEOUT)

        redis_process.kill()
        acked, slowest = [ack["id"]], 0.0
        for number in range(OUTAGE_SENDS):
            started = time.monotonic()
            ack = alice_socket.call("send", text_envelope(alice, bob, f"during {number}"),
                                    timeout=TIMEOUT)
            slowest = max(slowest, time.monotonic() - started)
            assert ack["ok"], ack
            acked.append(ack["id"])
        assert slowest < ACK_BOUND
        for server in (first, second):
            assert wait_for_readyz(server, 503, 5) == \
                (503, {"status": "not_ready", "failing": ["queue"]})
        outage_log = first.log_text()
        assert outage_log.count("unreachable") == 1, outage_log
        assert "Cannot publish" not in outage_log and "Traceback" not in outage_log

        redis_process.start()  # the same port, empty
        for server in (first, second):
            assert wait_for_readyz(server, 200, 10) == (200, {"status": "ready"})
            assert server.log_text().count("reachable again") == 1
        ack = alice_socket.call("send", text_envelope(alice, bob, "after"), timeout=TIMEOUT)
        assert ack["ok"], ack
        acked.append(ack["id"])
        assert wait_for(lambda: ack["id"] in [m["id"] for m in relayed], TIMEOUT)
        page = bob_socket.call("sync", {"after": 0, "limit": 500}, timeout=TIMEOUT)
        assert page["ok"] and [m["id"] for m in page["messages"]] == acked  # caught up
        for server in (first, second):
            log = server.log_text()
            assert log.count("unreachable") == 1 and "Traceback" not in log
    finally:
        alice_socket.disconnect()
        bob_socket.disconnect()
        first.stop()
        second.stop()


def _cookie(session):
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)


class Device:
    """An asyncio python-socketio client on one transport, noting when it was disconnected."""

    def __init__(self, server, session, transport):
        self.server, self.session, self.transport = server, session, transport
        self.disconnected_at = None
        self.http = self.sio = None

    async def open(self):
        context = ssl.create_default_context(cafile=str(self.server.cert_path))
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self.sio = socketio.AsyncClient(http_session=self.http, reconnection=False)
        self.sio.on("disconnect", self._gone)
        await self.sio.connect(self.server.url, transports=[self.transport],
                               headers={"Cookie": _cookie(self.session)},
                               wait_timeout=TIMEOUT)
        return self

    def _gone(self, *reason):
        self.disconnected_at = time.monotonic()

    async def close(self):
        if self.sio is not None:
            await self.sio.eio.disconnect(abort=True)
        if self.http is not None:
            await self.http.close()


def test_sigterm_drains_readiness_first_and_loses_no_acked_message(start_live_server):
    delay = 1.0
    server = start_live_server({"SENDAPP_DRAIN_DELAY": str(delay)})
    alice, bob = register_live(server, "dalice"), register_live(server, "dbob")
    befriend_live(server, alice, bob)
    acked, answered_after_sigterm, flips = [], [], {}

    async def scenario():
        senders = [await Device(server, alice.devices[0], transport).open()
                   for transport in ("websocket", "polling", "websocket")]
        watcher = await Device(server, bob.devices[0], "websocket").open()
        devices = senders + [watcher]
        signalled = asyncio.Event()

        async def keep_sending(device, number):
            count = 0
            while True:
                envelope = text_envelope(alice, bob, f"{number}-{count}")
                try:
                    ack = await device.sio.call("send", envelope, timeout=TIMEOUT)
                except Exception:  # noqa: BLE001 - disconnected or unanswered: not acked
                    return
                if ack.get("ok"):
                    acked.append((envelope["cid"], ack["id"]))
                    if signalled.is_set():
                        answered_after_sigterm.append(ack["id"])
                else:
                    assert ack["error"] == "retry", ack
                    await asyncio.sleep(ack.get("retry_after", 0.2))
                count += 1

        tasks = [asyncio.ensure_future(keep_sending(d, n)) for n, d in enumerate(senders)]
        try:
            await asyncio.sleep(1.0)
            assert acked, "nothing was acked before SIGTERM"
            started = time.monotonic()
            server.signal(signal.SIGTERM)
            signalled.set()
            flips["readyz"] = await asyncio.to_thread(wait_for_readyz, server, 503, delay)
            flips["flipped_after"] = time.monotonic() - started
            flips["exit"] = await asyncio.to_thread(server.wait, delay + STOP_BOUND + 5)
            flips["took"] = time.monotonic() - started
            await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT * 2)
            deadline = time.monotonic() + TIMEOUT
            while any(d.disconnected_at is None for d in devices) and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            flips["all_disconnected"] = all(d.disconnected_at is not None for d in devices)
        finally:
            for task in tasks:
                task.cancel()
            for device in devices:
                await device.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert flips["readyz"] == (503, {"status": "not_ready", "failing": ["draining"]})
    assert flips["flipped_after"] < delay  # readiness first, while still serving
    assert flips["exit"] == 0
    assert flips["took"] < delay + STOP_BOUND, flips
    assert flips["all_disconnected"]
    assert answered_after_sigterm, "no send was answered during the drain delay"
    with sqlite3.connect(server.instance_path / "sendapp.sqlite3") as database:
        stored = dict(database.execute("SELECT cid, id FROM messages WHERE sender_id = ?",
                                       (alice.id,)))
    assert all(stored.get(cid) == message_id for cid, message_id in acked)
    assert sorted(stored) == sorted(cid for cid, _id in acked)  # nothing stored went unacked
    log = server.log_text()
    assert "SendApp stopped" in log and "Traceback" not in log
    # Every send in hand was answered and its ack written before the sockets were dropped.
    assert re.search(r"stopped accepting; [1-4] Socket.IO connections dropped\n", log), log
