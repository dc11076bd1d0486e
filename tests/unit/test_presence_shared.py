"""Shared presence against a real redis-server: each SharedPresence plays one server process."""
import logging
import threading
import time

import pytest

from sendapp.presence.shared import PREFIX, SharedPresence
from support.redis_server import RedisServer

TTL = 1.0  # seconds: short, so expiry is tested in real time


class Threads:
    """The heartbeat's task runner outside a Socket.IO server: plain daemon threads."""

    @staticmethod
    def start_background_task(target):
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    @staticmethod
    def sleep(seconds):
        time.sleep(seconds)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def make_process(redis_server):
    """A SharedPresence per call, registered in Redis (one beat); its announcements noted."""
    made = []

    def make(token, url=None, ttl=TTL, beat=True):
        heard = []
        store = SharedPresence(url or redis_server.url, ttl, announce=heard.extend,
                               tasks=Threads, token=token)
        store.heard = heard
        store._started = True  # no heartbeat task unless a test starts one
        if beat:
            store.beat()
        made.append(store)
        return store

    yield make
    for store in made:
        store.stop()


def test_first_and_last_socket_are_decided_across_processes(make_process):
    a, b = make_process("a"), make_process("b")
    assert a.connected(7, "sid-a") is True
    assert b.connected(7, "sid-b") is False  # online already, through process a
    assert a.online_among([7, 8]) == b.online_among([7, 8]) == {7}
    assert a.disconnected(7, "sid-a") is False  # the device on b still holds them online
    assert b.online_among([7]) == {7}
    assert b.disconnected(7, "sid-b") is True
    assert a.online_among([7]) == b.online_among([7]) == set()


def test_each_device_counts_within_one_process(make_process):
    a, b = make_process("a"), make_process("b")
    assert a.connected(1, "phone") is True
    assert a.connected(1, "laptop") is False
    assert a.disconnected(1, "phone") is False
    assert b.online_among([1]) == {1}
    assert a.disconnected(1, "laptop") is True
    assert b.online_among([1]) == set()


def test_a_socket_never_recorded_changes_nothing(make_process):
    a, b = make_process("a"), make_process("b")
    assert a.connected(3, "known") is True
    assert b.disconnected(3, "unknown") is False
    assert a.online_among([3]) == {3}


def test_racing_processes_announce_each_change_exactly_once(make_process):
    processes = [make_process("a"), make_process("b")]
    users = range(100, 140)

    def race(call):
        barrier = threading.Barrier(2)
        answers = [[], []]

        def one(index):
            store = processes[index]
            for user_id in users:
                barrier.wait(5)
                answers[index].append(call(store, user_id, f"{index}-{user_id}"))

        threads = [threading.Thread(target=one, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        return list(zip(*answers))

    came = race(lambda store, user_id, sid: store.connected(user_id, sid))
    assert all(sorted(pair) == [False, True] for pair in came), came
    went = race(lambda store, user_id, sid: store.disconnected(user_id, sid))
    assert all(sorted(pair) == [False, True] for pair in went), went
    assert processes[0].online_among(list(users)) == set()


def test_a_crashed_process_users_go_offline_within_the_ttl(make_process):
    crashed, survivor = make_process("crashed", beat=False), make_process("survivor")
    last_beat = time.monotonic()
    crashed.beat()  # its last: it never beats again
    crashed.connected(1, "s1")
    crashed.connected(2, "s2")
    survivor.connected(2, "s3")  # also online here: stays online
    survivor._started = False
    survivor.start()  # beats every TTL / 3
    bound = TTL + survivor.interval + 0.5
    while time.monotonic() - last_beat < bound and not survivor.heard:
        time.sleep(0.02)
    took = time.monotonic() - last_beat
    assert survivor.heard == [(1, False)], f"heard {survivor.heard} after {took:.2f}s"
    assert TTL <= took <= bound
    assert survivor.online_among([1, 2]) == {2}
    late = make_process("late")
    assert late.beat() == []  # reaped once, by one process


def test_a_process_cut_off_past_the_ttl_comes_back_online(make_process):
    paused, other = make_process("paused"), make_process("other")
    paused.connected(5, "s")
    time.sleep(TTL + 0.2)
    assert other.beat() == [(5, False)]
    assert paused.beat() == [(5, True)]  # its heartbeat had expired: it rewrites its entries
    assert other.online_among([5]) == {5}
    assert paused.disconnected(5, "s") is True


def test_unreachable_redis_degrades_logs_once_and_recovers(make_process, tmp_path, caplog):
    later = RedisServer(tmp_path / "later")  # not started: its port refuses
    store = make_process("a", url=later.url, beat=False)
    caplog.set_level(logging.INFO, logger="sendapp.presence.shared")
    try:
        assert store.online_among([9]) == set()
        assert store.connected(9, "s") is False  # no exception; nothing announced yet
        assert store.online_among([9]) == {9}  # this process's own sockets still show
        store.tick()
        store.connected(10, "t")
        store.tick()
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1
        later.start()
        other = make_process("b", url=later.url)
        assert other.online_among([9, 10]) == set()
        store.tick()
        assert sorted(store.heard) == [(9, True), (10, True)]  # announced once it is back
        assert other.online_among([9, 10]) == {9, 10}
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        assert store.disconnected(9, "s") is True
    finally:
        later.kill()


def test_a_restarted_redis_is_refilled_by_the_heartbeats(make_process, redis_server, tmp_path):
    a, b = make_process("a"), make_process("b")
    a.connected(1, "s1")
    b.connected(2, "s2")
    redis_server.kill()
    assert a.connected(3, "s3") is False  # Redis gone: no exception
    restarted = RedisServer(tmp_path / "again", port=redis_server.port).start()
    try:
        a.tick()
        b.tick()
        assert a.online_among([1, 2, 3]) == b.online_among([1, 2, 3]) == {1, 2, 3}
        assert b.disconnected(2, "s2") is True
    finally:
        restarted.kill()


def test_keys_stay_under_the_prefix_and_hold_only_ids_and_counts(make_process, redis_server):
    a = make_process("a")
    a.connected(42, "a-secret-looking-sid")
    client = redis_server.client()
    keys = sorted(key.decode() for key in client.keys("*"))
    assert keys and all(key.startswith(PREFIX) for key in keys), keys
    dumped = repr([client.dump(key) for key in keys])
    assert "a-secret-looking-sid" not in dumped
    assert client.hget(PREFIX + "users", 42) == b"1"
    assert 0 < client.pttl(PREFIX + "alive:a") <= TTL * 1000
