"""Refusing sends early when this process has enough of them in hand, so overload costs a
cheap `retry` instead of a wait that grows without end.

By Little's law the time a send spends in the server is the number of sends in hand
divided by the rate they are finished at. Bounding that number bounds the wait: the bound
is the sends this process stores in TARGET_DELAY at its measured rate (at most
`SEND_CONCURRENCY`, and at least MIN_IN_HAND below that), so an accepted send is acked
within about TARGET_DELAY however hard clients push. Past it, `shed_sends` answers a
`send` packet `retry` right where Engine.IO hands it over, before Socket.IO decodes it,
so a refusal costs a fraction of a message. The client's outbox resends the same cid;
nothing was stored, so nothing can be doubled. The message writer also bounds its own
queue (chat/writer.py).

A send is in hand from the moment the edge lets it through, not from when its handler
starts: one WebSocket reader hands over every frame already in its buffer without
yielding, and each becomes a handler task waiting its turn. Counted only once started,
those waiting tasks were an unbounded queue in front of the bound (docs/BENCHMARKS.md).

Every `retry` answer to a `send` carries `retry_after` (seconds): a turn in a line drawn
at the rate this process has been finishing sends, with jitter. Refused clients then come
back spread over the time the server needs for them, instead of all at once again (a
refusal storm that costs the CPU the accepted messages need). A line longer than half of
MAX_WAIT is not lengthened further, and the jitter then spreads the turns over the last
half: a cap that every wait hit would send them all back in the same instant.

While the process drains (app.py, on SIGTERM) `close` makes every new `send` a `retry` at
the edge, so the sends in hand can only go down: app.py waits for them to be acked before
it drops the sockets. The client resends the same cid once it has reconnected, through
the proxy, to another process.
"""
import json
import logging
import random
import re
import threading
import time

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from .admission import Notices
from .errors import ApiError

log = logging.getLogger(__name__)

_EXTENSION = "sendapp_sends_in_hand"
# A Socket.IO EVENT packet for the default namespace, with an ack id, naming `send`.
SEND_PACKET = re.compile(r'2(\d+)\["send"')
# Lazy: answered in the sender's language inside a Socket.IO event, in English at the Engine.IO
# edge (shed_sends runs before any request context exists).
BUSY_MESSAGE = _l("the server is busy; nothing was stored, try again")
RATE_WINDOW = 0.5  # seconds over which the finishing rate is measured
START_RATE = 500.0  # sends/s assumed until measured while busy
MIN_RATE = 50.0  # sends/s assumed at least (a stalled process)
BUSY_IN_HAND = 8  # sends in hand from which the storing rate shows what the server can do
TARGET_DELAY = 0.3  # seconds of work at the measured rate that may be in hand
MIN_IN_HAND = 128  # sends in hand allowed at least, whatever the measured rate
MIN_WAIT, MAX_WAIT = 0.2, 30.0  # seconds a `retry_after` says, at least and at most
CLOSING_MESSAGE = _l("the server is restarting; nothing was stored, try again")


class SendsInHand:
    """How many sends this process is handling (from dispatch to ack), against a bound, and
    when a refused one should come back."""

    def __init__(self, limit, clock=time.monotonic, jitter=random.random):
        self.limit = limit
        self.count = 0
        self.lock = threading.Lock()
        self.clock = clock
        self.jitter = jitter
        self.rate = START_RATE  # sends stored per second while busy, smoothed
        self.window_start = clock()
        self.finished = 0
        self.line_end = 0.0  # when the last refused send's turn comes
        self.closing = False

    def bound(self):
        """Sends in hand allowed now: TARGET_DELAY of work at the measured rate."""
        return min(self.limit, max(MIN_IN_HAND, int(self.rate * TARGET_DELAY)))

    def full(self):
        return self.closing or self.count >= self.bound()

    def close(self):
        """Take no more sends (the process drains): each new one is answered `retry`."""
        self.closing = True

    def hold(self, handler):
        """Count one send in hand from now (the edge let it through) until `handler`, the task
        that handles it, returns. Returns the function to run in that task."""
        with self.lock:
            self.count += 1

        def held(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            finally:
                with self.lock:
                    self.count -= 1

        return held

    def refuse_if_closing(self):
        """Raise `retry` once closed: a send let through before may still await its turn."""
        if self.closing:
            raise ApiError("retry", CLOSING_MESSAGE, retry_after=MIN_WAIT)

    def stored(self):
        """Count one send stored. The rate is taken only from busy windows: refusals, idle
        time and a light load show what clients ask for, not what the server can do."""
        with self.lock:
            self.finished += 1
            now = self.clock()
            elapsed = now - self.window_start
            if elapsed < RATE_WINDOW:
                return
            if elapsed <= 2 * RATE_WINDOW and self.count >= BUSY_IN_HAND:
                measured = self.finished / elapsed
                self.rate = max(MIN_RATE, 0.5 * self.rate + 0.5 * measured)
            self.window_start, self.finished = now, 0

    def retry_after(self):
        """Seconds after which a refused send should come back: the end of a line of refused
        sends, each a turn at the measured rate behind the sends in hand, with jitter."""
        with self.lock:
            now = self.clock()
            start = max(self.line_end, now + self.count / self.rate)
            self.line_end = min(start + 1.0 / self.rate, now + MAX_WAIT / 2)
            wait = (self.line_end - now) * (1.0 + self.jitter())
        return round(min(max(wait, MIN_WAIT), MAX_WAIT), 2)

    def busy_ack(self):
        """The `retry` ack of a send refused for load (or because the process drains)."""
        if self.closing:
            return {"ok": False, "error": "retry", "message": edge_text(CLOSING_MESSAGE),
                    "retry_after": MIN_WAIT}
        return {"ok": False, "error": "retry", "message": edge_text(BUSY_MESSAGE),
                "retry_after": self.retry_after()}


_edge_texts = {}


def edge_text(message):
    """A lazy sentence as the edge answers it. Rendering one asks Flask-Babel for a locale
    and a catalogue: about 4 µs, half of building a refusal's ack, thousands of times a
    second under overload. The edge runs outside any app context, so the sentence is
    always the source language's there, and is rendered once per process."""
    if has_app_context():  # a socket's language may apply (i18n/choice.py)
        return str(message)
    known = _edge_texts.get(id(message))
    if known is None:  # the message is kept with its text, so no other object gets its id
        known = _edge_texts[id(message)] = (message, str(message))
    return known[1]


def sends_in_hand(app=None):
    """This app's SendsInHand (one per server process and app)."""
    app = app or current_app._get_current_object()
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = app.extensions.setdefault(_EXTENSION, SendsInHand(app.config["SEND_CONCURRENCY"]))
    return found


def shed_sends(server, in_hand):
    """Answer `send` packets `retry` at the Engine.IO edge while `in_hand` is full, and hold
    each one let through from there until its handler returns.

    python-socketio decodes a packet and starts its handler task within the `message`
    handler; the task the dispatching thread (or greenthread) starts for a `send` let
    through is wrapped by `in_hand.hold`. Other tasks (other events, background work, tasks
    another thread starts meanwhile) start unwrapped.

    :param server: the socketio.Server Flask-SocketIO made (`socketio.server`).
    """
    eio = server.eio
    handle = eio.handlers["message"]
    start_task = server.start_background_task
    notices = Notices(log)
    letting_through = set()  # the threads dispatching a `send` let through

    def start_background_task(target, *args, **kwargs):
        dispatching = threading.get_ident()
        if dispatching in letting_through:
            letting_through.discard(dispatching)
            target = in_hand.hold(target)
        return start_task(target, *args, **kwargs)

    def shed(eio_sid, data):
        found = SEND_PACKET.match(data) if isinstance(data, str) else None
        if found is None:
            return handle(eio_sid, data)
        if in_hand.full():
            if not in_hand.closing:
                notices.note("shed", "busy: sends answered retry (%d in hand)", in_hand.count)
            eio.send(eio_sid, "3" + found.group(1) + json.dumps([in_hand.busy_ack()]))
            return None
        dispatching = threading.get_ident()
        letting_through.add(dispatching)
        try:
            return handle(eio_sid, data)
        finally:
            letting_through.discard(dispatching)

    server.start_background_task = start_background_task
    eio.on("message", shed)
