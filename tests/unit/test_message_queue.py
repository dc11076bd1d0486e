"""The Redis queue link without Redis: bounded checks, one log line per change, publishing
that never raises or waits while the link is down, readiness caching, sends closing."""
import logging
import socket
import time

import pytest

from sendapp import message_queue
from sendapp.errors import ApiError
from sendapp.health.readiness import Readiness
from sendapp.load import CLOSING_MESSAGE, MIN_WAIT, SendsInHand
from support.live_server import free_port


def closed_port_url():
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens on a port just released


def test_safe_url_drops_user_and_password():
    assert message_queue.safe_url("redis://user:s3cret@10.0.0.5:6380/2") == \
        "redis://10.0.0.5:6380/2"
    assert message_queue.safe_url("rediss://:pw@[::1]:6379/0") == "rediss://[::1]:6379/0"
    assert "s3cret" not in message_queue.safe_url("redis://:s3cret@host/0")


@pytest.mark.parametrize("url, expected", [
    ("redis://127.0.0.1:6379/0", True), ("rediss://h/1", True), (None, False),
    ("", False), ("amqp://guest@localhost//", False)])
def test_only_redis_urls_are_checked(url, expected):
    assert message_queue.is_redis_url(url) is expected


def test_wait_for_queue_gives_up_on_a_closed_port_within_its_bound():
    started = time.monotonic()
    reason = message_queue.wait_for_queue(closed_port_url(), 1.0)
    assert reason is not None and "Connection refused" in reason
    assert time.monotonic() - started < 3.0


def test_link_logs_each_change_once(caplog):
    link = message_queue.QueueLink("redis://:pw@127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="sendapp.message_queue"):
        for _ in range(50):
            link.lost(ConnectionError("refused"))
        assert link.up is False
        for _ in range(50):
            link.restored()
        link.lost()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "unreachable" in lines[0] and "still stored and acked" in lines[0]
    assert "reachable again" in lines[1]
    assert all("pw" not in line for line in lines)


def test_publish_to_a_closed_port_never_raises_and_stops_trying(caplog):
    manager = message_queue.SteadyRedisManager(closed_port_url())
    with caplog.at_level(logging.DEBUG):
        started = time.monotonic()
        for number in range(200):
            assert manager._publish({"method": "emit", "n": number}) is None
        elapsed = time.monotonic() - started
    assert manager.link.up is False
    assert elapsed < 1.0  # one refused connection, then no network at all
    outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage) == 1
    assert not any("Cannot publish" in r.getMessage() for r in caplog.records)


def test_a_redis_that_accepts_and_never_answers_costs_one_timeout_once():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts connections; nothing ever answers
    try:
        manager = message_queue.SteadyRedisManager(
            f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        manager._publish({"method": "emit"})
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(100):
            manager._publish({"method": "emit"})
        rest = time.monotonic() - started
    finally:
        silent.close()
    assert first < message_queue.SOCKET_TIMEOUT * 1.5
    assert manager.link.up is False
    assert rest < 0.1


def test_probe_takes_the_link_down():
    manager = message_queue.SteadyRedisManager(closed_port_url())
    assert manager.probe() is False
    assert manager.link.up is False


def test_make_manager_is_none_without_a_queue():
    assert message_queue.make_manager(None) is None
    assert isinstance(message_queue.make_manager("redis://127.0.0.1:6379/0"),
                      message_queue.SteadyRedisManager)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_readiness_probes_once_per_cache_window_and_names_what_fails(caplog):
    clock, calls = Clock(), []
    answers = {"database": True, "queue": False}

    def probe(name):
        return lambda: calls.append(name) or answers[name]

    ready = Readiness([(n, probe(n)) for n in answers], cache=1.0, clock=clock)
    assert ready.failing() == ["queue"]
    assert ready.failing() == ["queue"]
    assert calls == ["database", "queue"]
    answers["queue"] = True
    clock.now += 1.0
    assert ready.failing() == []
    assert calls == ["database", "queue"] * 2
    ready.drain()
    assert ready.failing() == ["draining"]
    assert calls == ["database", "queue"] * 2  # draining needs no probe


def test_readiness_counts_a_raising_probe_as_failing():
    def broken():
        raise OSError("no route to host")

    assert Readiness([("database", broken)]).failing() == ["database"]


def test_a_send_let_through_before_the_close_is_refused_at_its_turn_and_released():
    """The drain waits for the count to reach 0: a send the edge let through just before the
    close is answered `retry` when its handler runs, and no longer counted after."""
    in_hand = SendsInHand(limit=10)
    assert not in_hand.full()
    waiting = in_hand.hold(in_hand.refuse_if_closing)  # let through, its task not started
    in_hand.close()
    assert in_hand.full() and in_hand.count == 1
    assert in_hand.busy_ack() == {"ok": False, "error": "retry", "message": CLOSING_MESSAGE,
                                  "retry_after": MIN_WAIT}
    with pytest.raises(ApiError) as refused:
        waiting()
    assert refused.value.code == "retry"
    assert in_hand.count == 0
