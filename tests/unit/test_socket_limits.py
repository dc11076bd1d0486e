"""The socket events' limit counted in this process (sendapp/socket_limits.py): the same
decisions as limits' moving window, without a thread per hit."""
import random
import threading
from types import SimpleNamespace

import limits.storage.memory
from limits import parse, parse_many
from limits.strategies import MovingWindowRateLimiter

from sendapp import socket_limits
from sendapp.socket_limits import LocalMovingWindow


class Clock:
    def __init__(self, at=1000.0):
        self.at = at

    def __call__(self):
        return self.at


def test_a_window_allows_its_amount_then_refuses_until_the_oldest_hit_leaves_it():
    clock = Clock()
    window = LocalMovingWindow(clock)
    limit = parse("3/second")
    assert [window.hit(limit, "socket", "7") for _ in range(4)] == [True, True, True, False]
    clock.at += 1.0  # the first hits are exactly one window old: they still count
    assert window.hit(limit, "socket", "7") is False
    clock.at += 0.001
    assert window.hit(limit, "socket", "7") is True


def test_each_user_has_a_window_of_their_own():
    window = LocalMovingWindow(Clock())
    limit = parse("1/minute")
    assert window.hit(limit, "socket", "1") is True
    assert window.hit(limit, "socket", "1") is False
    assert window.hit(limit, "socket", "2") is True


def test_it_decides_as_limits_moving_window_does(monkeypatch):
    """The same irregular hits, on the same clock, through both: the same answers."""
    clock = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=clock))
    theirs = MovingWindowRateLimiter(limits.storage.memory.MemoryStorage())
    ours = LocalMovingWindow(clock)
    rules = parse_many("5/second;12/minute")
    rng = random.Random(8)
    answers = []
    for _ in range(600):
        clock.at += rng.choice((0.0, 0.01, 0.1, 0.2, 0.5, 1.0, 3.0))
        user = str(rng.randrange(3))
        answers.append((all(theirs.hit(rule, "socket", user) for rule in rules),
                        all(ours.hit(rule, "socket", user) for rule in rules)))
    assert [a for a, _ in answers] == [b for _, b in answers]
    assert {a for a, _ in answers} == {True, False}  # both kinds of answer were exercised


def test_windows_nobody_hit_lately_are_dropped():
    clock = Clock()
    window = LocalMovingWindow(clock)
    minute, second = parse("10/minute"), parse("10/second")
    window.hit(minute, "socket", "1")
    window.hit(second, "socket", "2")
    clock.at += socket_limits.SWEEP_EVERY - 30  # the minute's hit is still in its window
    window.hit(second, "socket", "3")
    clock.at += 30
    window.hit(second, "socket", "3")
    assert set(window.windows) == {minute.key_for("socket", "1"), second.key_for("socket", "3")}


def test_memory_storage_is_counted_here_without_starting_a_thread(monkeypatch):
    def no_timer(*args, **kwargs):
        raise AssertionError("a thread was started for a hit")

    limiter = socket_limits.limiter_for("memory://")
    assert isinstance(limiter, LocalMovingWindow)
    monkeypatch.setattr(threading, "Timer", no_timer)
    limit = parse("100000/second")
    assert all(limiter.hit(limit, "socket", str(n % 50)) for n in range(1000))


def test_a_shared_storage_keeps_limits_own_limiter():
    limiter = socket_limits.limiter_for("redis://127.0.0.1:6379/15")
    assert isinstance(limiter, MovingWindowRateLimiter)
