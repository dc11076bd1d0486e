"""Refusing sends early when this process is behind, so overload costs a cheap `retry`.

On one core the server's CPU is the queue: when more sends arrive than it can handle,
every packet waits for its turn, and the wait grows without bound. The message writer
bounds its own queue (chat/writer.py), but by the time a send reaches it most of its cost
(decoding, dispatch, validation) is spent. So:

- `LoopLag` measures how late a short cooperative sleep wakes up: the time any ready work
  waits for the CPU in this process. It runs only while sends arrive.
- `shed_sends` answers a `send` packet `retry` right where Engine.IO hands it over, before
  Socket.IO decodes it, while that lag is above `OVERLOAD_LAG`. The client's outbox resends
  the same cid; nothing was stored, so nothing can be doubled.

Async-mode neutral: the task uses the server's start_background_task and sleep.
"""
import json
import logging
import re
import threading
import time

from .admission import Notices

log = logging.getLogger(__name__)

PERIOD = 0.005  # seconds between lag probes
IDLE_STOP = 2.0  # the probe stops this long after the last send
# A Socket.IO EVENT packet for the default namespace, with an ack id, naming `send`.
SEND_PACKET = re.compile(r'2(\d+)\["send"')
RETRY_ACK = json.dumps([{"ok": False, "error": "retry",
                         "message": "the server is busy; nothing was stored, try again"}])


class LoopLag:
    """How far behind this process is (seconds), probed while there is traffic.

    :param start_task: the async mode's start_background_task.
    :param sleep: the async mode's cooperative sleep.
    :param limit: seconds of lag past which `behind()` is true.
    """

    def __init__(self, start_task, sleep, limit):
        self.start_task = start_task
        self.sleep = sleep
        self.limit = limit
        self.lag = 0.0
        self.last_activity = 0.0
        self.running = False
        self.lock = threading.Lock()

    def note_activity(self):
        self.last_activity = time.monotonic()
        with self.lock:
            start = not self.running
            self.running = True
        if start:
            self.start_task(self._run)

    def behind(self):
        return self.lag > self.limit

    def _run(self):
        while time.monotonic() - self.last_activity < IDLE_STOP:
            before = time.monotonic()
            self.sleep(PERIOD)
            self.lag = max(time.monotonic() - before - PERIOD, 0.0)
        with self.lock:
            self.lag = 0.0
            self.running = False


def shed_sends(server, lag):
    """Answer `send` packets `retry` at the Engine.IO edge while `lag` says the process is behind.

    :param server: the socketio.Server Flask-SocketIO made (`socketio.server`).
    """
    eio = server.eio
    handle = eio.handlers["message"]
    notices = Notices(log)

    def shed(eio_sid, data):
        if isinstance(data, str) and data.startswith('2'):
            found = SEND_PACKET.match(data)
            if found is not None:
                lag.note_activity()
                if lag.behind():
                    notices.note("shed", "busy: sends answered retry (the server is %.0f ms behind)",
                                 lag.lag * 1000)
                    eio.send(eio_sid, "3" + found.group(1) + RETRY_ACK)
                    return None
        return handle(eio_sid, data)

    eio.on("message", shed)
