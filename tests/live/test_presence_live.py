"""Presence across two real server processes sharing PostgreSQL and Redis (issue 10).

Alice's devices and Bob are connected to different processes; each must see the other
online, hear `presence` events both ways, stay online while any device anywhere is, and go
offline within the bound after the process holding them is killed with SIGKILL.
"""
import queue
import time

from support.live_people import add_device, connect_socket, register_live
from support.redis_server import RedisServer
from support.services import scratch_postgres_database

TTL = 3  # SENDAPP_PRESENCE_TTL of both processes: heartbeats every second
WAIT = 10  # seconds an expected event may take
GONE_WITHIN = TTL + TTL / 3 + 1.0  # expiry, one more heartbeat of the survivor, delivery


class Device:
    """One device's socket on one process, noting the `presence` events it hears."""

    def __init__(self, server, session):
        self.heard = queue.Queue()
        self.client = connect_socket(server, session, events={"presence": self.heard.put})

    def next_presence(self, timeout=WAIT):
        try:
            return self.heard.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no presence event within {timeout}s") from None

    def quiet(self, seconds=1.5):
        """The presence events heard in the next `seconds` (expected: none)."""
        time.sleep(seconds)
        extra = []
        while not self.heard.empty():
            extra.append(self.heard.get_nowait())
        return extra

    def close(self):
        if self.client.connected:
            try:
                self.client.disconnect()
            except Exception:  # noqa: BLE001 - its server may have been killed
                pass


def friends_online(server, session):
    """username → online, from GET /api/friends on `server`."""
    answer = session.get(server.url + "/api/friends", timeout=WAIT)
    assert answer.status_code == 200, answer.text
    return {f["username"]: f["online"] for f in answer.json()["friends"]}


def test_presence_crosses_processes_counts_devices_and_expires_a_killed_process(
        start_live_server, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    devices = []
    try:
        with scratch_postgres_database() as database:
            shared = {"SENDAPP_DATABASE_URL": database, "SENDAPP_MESSAGE_QUEUE": redis.url,
                      "SENDAPP_SECRET_KEY": "one-secret-for-both-processes",
                      "SENDAPP_PRESENCE_TTL": TTL}
            one = start_live_server(shared)  # migrates first; the second finds it done
            two = start_live_server(shared)
            try:
                _scenario(one, two, devices)
            finally:
                for device in devices:
                    device.close()
                one.stop()
                two.kill()
    finally:
        redis.kill()


def _scenario(one, two, devices):
    def device(server, session):
        devices.append(Device(server, session))
        return devices[-1]

    # A session's requests.Session trusts its own process's certificate only, so each one
    # talks to the process it logged in on.
    alice = register_live(one, "alice")
    bob = register_live(two, "bob")
    alice_phone, bob_phone = alice.devices[0], bob.devices[0]
    alice_laptop = add_device(two, alice)  # a second session, logged in on the other process
    bob_reader = add_device(one, bob)  # bob's HTTP on process one (no socket)
    asked = alice_phone.post(one.url + "/api/friends", json={"username": "bob"}, timeout=WAIT)
    assert asked.status_code == 201, asked.text
    accepted = bob_phone.post(two.url + f"/api/friends/{alice.id}/accept", timeout=WAIT)
    assert accepted.status_code == 200, accepted.text
    online = {"user": bob.id, "online": True}
    offline = {"user": bob.id, "online": False}

    # Each sees the other online, read and announced across processes.
    on_one = device(one, alice_phone)
    on_two = device(two, bob_phone)
    assert on_one.next_presence() == online
    assert friends_online(one, alice_phone) == {"bob": True}
    assert friends_online(two, bob_phone) == {"alice": True}

    # Alice's second device on the other process: no second "online"; closing the first
    # device leaves her online everywhere.
    laptop = device(two, alice_laptop)
    on_one.close()
    assert on_two.quiet() == []
    assert friends_online(two, bob_phone) == {"alice": True}
    assert friends_online(one, bob_reader) == {"alice": True}
    laptop.close()
    assert on_two.next_presence() == {"user": alice.id, "online": False}
    assert friends_online(two, bob_phone) == {"alice": False}

    # Both ways: alice back on process one (→ bob on two), bob leaving two (→ alice on one).
    on_one = device(one, alice_phone)
    assert on_two.next_presence() == {"user": alice.id, "online": True}
    on_two.close()
    assert on_one.next_presence() == offline
    assert friends_online(one, alice_phone) == {"bob": False}

    # kill -9 of bob's process: nobody says goodbye; its heartbeat expires instead.
    device(two, bob_phone)
    assert on_one.next_presence() == online
    time.sleep(1.5)  # a heartbeat or two of both processes with bob online
    assert friends_online(one, alice_phone) == {"bob": True}
    killed_at = time.monotonic()
    two.kill()
    assert on_one.next_presence(timeout=GONE_WITHIN + 2) == offline
    took = time.monotonic() - killed_at
    assert TTL - TTL / 3 - 0.5 <= took <= GONE_WITHIN, f"offline after {took:.2f}s"
    assert friends_online(one, alice_phone) == {"bob": False}
    assert on_one.quiet(1.0) == []  # announced once
