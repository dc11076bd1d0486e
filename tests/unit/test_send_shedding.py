"""Past the bound of sends in hand, a `send` is answered `retry` before Socket.IO decodes it;
a send let through is in hand from the edge until its handler task returns."""
import contextlib
import json
import threading

import pytest

from sendapp import load
from sendapp.load import SendsInHand, shed_sends


class FakeSocketIO:
    """Just what shed_sends touches: the Engine.IO server's `message` handler and `send`, and
    python-socketio's `start_background_task`, which its `message` handler calls for every
    event it decodes (a handler task, not run until `run_tasks`)."""

    def __init__(self):
        self.decoded, self.sent, self.tasks = [], [], []
        self.meanwhile = None  # a task another thread starts while a packet is dispatched
        self.handlers = {"message": self.dispatch}
        self.eio = self

    def dispatch(self, sid, data):
        if not data.endswith("]"):
            raise ValueError("undecodable packet")
        self.decoded.append((sid, data))
        if self.meanwhile is not None:  # another thread starts a task during the dispatch
            other = threading.Thread(target=self.start_background_task, args=(self.meanwhile,))
            other.start()
            other.join(5)
        self.start_background_task(lambda: None)

    def on(self, name, handler):
        self.handlers[name] = handler

    def send(self, sid, data):
        self.sent.append((sid, data))

    def start_background_task(self, target, *args, **kwargs):
        self.tasks.append(lambda: target(*args, **kwargs))

    def run_tasks(self):
        while self.tasks:
            self.tasks.pop(0)()


def gate(limit):
    server = FakeSocketIO()
    in_hand = SendsInHand(limit)
    shed_sends(server, in_hand)
    return server, in_hand, server.handlers["message"]


@contextlib.contextmanager
def held(in_hand):
    """One send in hand while the block runs."""
    release = in_hand.hold(lambda: None)
    try:
        yield
    finally:
        release()


SEND = '27["send",{"v":1,"cid":"x"}]'


def test_a_send_past_the_bound_gets_retry_with_its_ack_id_and_is_not_decoded():
    eio, in_hand, handle = gate(1)
    with held(in_hand):
        handle("sid1", SEND)
        handle("sid1", '28["typing",{"to":2,"on":true}]')  # other events are never shed
    assert eio.decoded == [("sid1", '28["typing",{"to":2,"on":true}]')]
    (sid, packet), = eio.sent
    assert sid == "sid1" and packet.startswith("37[")
    assert json.loads(packet[2:])[0]["error"] == "retry"


def test_below_the_bound_every_send_goes_through():
    eio, in_hand, handle = gate(2)
    with held(in_hand):
        handle("sid1", SEND)
    eio.run_tasks()
    assert in_hand.count == 0
    assert eio.decoded == [("sid1", SEND)] and eio.sent == []


def test_a_send_is_in_hand_from_the_edge_until_its_task_returns():
    """A reader hands over every buffered frame before any handler task starts: the sends
    waiting for their turn count against the bound, so a burst past it is refused."""
    eio, in_hand, handle = gate(2)
    for _ in range(3):
        handle("sid1", SEND)
    assert in_hand.count == 2 and len(eio.tasks) == 2
    assert len(eio.decoded) == 2 and json.loads(eio.sent[0][1][2:])[0]["error"] == "retry"
    eio.run_tasks()
    assert in_hand.count == 0


def test_other_events_and_background_tasks_are_not_held():
    eio, in_hand, handle = gate(2)
    handle("sid1", '28["typing",{"to":2,"on":true}]')
    eio.start_background_task(lambda: None)
    assert in_hand.count == 0 and len(eio.tasks) == 2


def test_a_task_another_thread_starts_during_the_dispatch_is_not_held():
    eio, in_hand, handle = gate(2)
    eio.meanwhile = lambda: None
    handle("sid1", SEND)
    assert in_hand.count == 1 and len(eio.tasks) == 2
    eio.tasks.pop(0)()  # the other thread's task
    assert in_hand.count == 1, "the other thread's task was held in the send's place"
    eio.run_tasks()
    assert in_hand.count == 0


def test_a_send_that_fails_to_decode_leaves_nothing_held():
    """The packet never became a task; the next task started is not taken for it."""
    eio, in_hand, handle = gate(2)
    with pytest.raises(ValueError):
        handle("sid1", '21["send",{"v":1')
    eio.start_background_task(lambda: None)
    assert in_hand.count == 0


def test_a_held_send_is_released_when_its_handler_raises():
    in_hand = SendsInHand(2)

    def broken():
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        in_hand.hold(broken)()
    assert in_hand.count == 0


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def finishing_at(rate, seconds, clock, in_hand, busy=True):
    """Store sends at `rate` per second for `seconds` of the fake clock, with a queue of sends
    in hand behind them (`busy`) or none."""
    with contextlib.ExitStack() as queue:
        for _ in range(10 if busy else 0):
            queue.enter_context(held(in_hand))
        for _ in range(int(rate * seconds)):
            clock.now += 1.0 / rate
            with held(in_hand):
                in_hand.stored()


def test_the_edge_refusal_says_when_to_come_back():
    eio, in_hand, handle = gate(1)
    with held(in_hand):
        handle("sid1", SEND)
    ack = json.loads(eio.sent[0][1][2:])[0]
    assert 0.2 <= ack["retry_after"] <= 30


def test_refused_sends_are_given_turns_spread_at_the_rate_sends_finish():
    """1,000 refusals at a measured 500 sends/s are told to come back over about 2 s or
    more (not all at once), later ones later; the line stops growing at half the 30 s cap."""
    clock = Clock()
    in_hand = SendsInHand(10, clock=clock, jitter=lambda: 0.0)
    finishing_at(500, 2.0, clock, in_hand)
    assert 400 <= in_hand.rate <= 600
    waits = [in_hand.retry_after() for _ in range(1000)]
    assert waits == sorted(waits)
    assert waits[0] <= 0.25 and 1.8 <= waits[-1] <= 1000 / in_hand.rate + 0.01
    assert max(in_hand.retry_after() for _ in range(100_000)) == 15


def test_a_full_line_still_spreads_its_turns_over_the_last_half_of_the_cap():
    """When every refusal meets the longest line, the jitter (not the cap) sets each wait:
    they come back over 15-30 s, never all in the same instant."""
    clock = Clock()
    draws = iter([i / 1000 for i in range(1000)] * 200)
    in_hand = SendsInHand(10, clock=clock, jitter=lambda: next(draws))
    finishing_at(500, 1.0, clock, in_hand)
    for _ in range(100_000):
        in_hand.retry_after()
    waits = [in_hand.retry_after() for _ in range(1000)]
    assert min(waits) >= 15 and max(waits) <= 30
    assert len(set(waits)) > 500


def test_the_bound_on_sends_in_hand_follows_the_measured_rate():
    """0.3 s of work at the measured rate, at least 128, never past SEND_CONCURRENCY."""
    clock = Clock()
    in_hand = SendsInHand(1024, clock=clock, jitter=lambda: 0.0)
    finishing_at(2000, 2.0, clock, in_hand)
    assert 500 <= in_hand.bound() <= 700
    slow = SendsInHand(1024, clock=clock)
    finishing_at(100, 3.0, clock, slow)
    assert slow.bound() == 128
    assert SendsInHand(2).bound() == 2
    fast = SendsInHand(1024, clock=clock)
    finishing_at(20_000, 1.0, clock, fast)
    assert fast.bound() == 1024


def test_sends_past_the_rate_bound_are_shed():
    eio, in_hand, handle = gate(1024)
    with contextlib.ExitStack() as stack:
        for _ in range(in_hand.bound()):
            stack.enter_context(held(in_hand))
        handle("sid1", SEND)
    assert eio.decoded == [] and json.loads(eio.sent[0][1][2:])[0]["error"] == "retry"


def test_an_idle_line_starts_again_from_now():
    clock = Clock()
    in_hand = SendsInHand(10, clock=clock, jitter=lambda: 0.0)
    finishing_at(500, 1.0, clock, in_hand)
    for _ in range(500):
        in_hand.retry_after()
    clock.now += 60  # the line has long drained
    assert in_hand.retry_after() == 0.2


def test_jitter_stretches_a_wait_up_to_double():
    waits = []
    for jitter in (0.0, 0.999):
        clock = Clock()
        in_hand = SendsInHand(10, clock=clock, jitter=lambda jitter=jitter: jitter)
        finishing_at(500, 1.0, clock, in_hand)
        for _ in range(300):
            in_hand.retry_after()
        waits.append(in_hand.retry_after())
    calm, stretched = waits
    assert calm > 0.3
    assert 1.9 * calm <= stretched <= 2.0 * calm + 0.01


def test_idle_time_a_light_load_and_refusals_do_not_lower_the_measured_rate():
    clock = Clock()
    in_hand = SendsInHand(10, clock=clock, jitter=lambda: 0.0)
    finishing_at(1000, 2.0, clock, in_hand)
    busy = in_hand.rate
    clock.now += 600  # ten idle minutes, then one message
    with held(in_hand):
        in_hand.stored()
    finishing_at(20, 5.0, clock, in_hand, busy=False)  # a light load
    for _ in range(1000):  # refused sends finish too, unstored
        with held(in_hand):
            clock.now += 0.0001
    assert in_hand.rate == busy


def test_the_edge_refusal_is_in_the_source_language_and_rendered_once(monkeypatch):
    """Rendering a lazy sentence asks Flask-Babel for a locale each time; the edge has none
    (no app context), so it renders each sentence once."""
    eio, in_hand, handle = gate(1)
    with held(in_hand):
        handle("sid1", SEND)
    assert json.loads(eio.sent[0][1][2:])[0]["message"] == \
        "the server is busy; nothing was stored, try again"

    renders = []

    class Sentence:
        def __str__(self):
            renders.append(self)
            return "busy"

    monkeypatch.setattr(load, "BUSY_MESSAGE", Sentence())
    with held(in_hand):
        for _ in range(3):
            handle("sid1", SEND)
    assert [json.loads(packet[2:])[0]["message"] for _sid, packet in eio.sent[1:]] == ["busy"] * 3
    assert len(renders) == 1
