"""Refusing sends early when this process has enough of them in hand, so overload costs a
cheap `retry` instead of a wait that grows without end.

By Little's law the time a send spends in the server is the number of sends in hand
divided by the rate they are finished at. Bounding that number (`SEND_CONCURRENCY`)
bounds the wait: past it, `shed_sends` answers a `send` packet `retry` right where
Engine.IO hands it over, before Socket.IO decodes it, so a refusal costs a fraction of a
message. The client's outbox resends the same cid; nothing was stored, so nothing can be
doubled. The message writer also bounds its own queue (chat/writer.py).
"""
import json
import logging
import re
import threading
from contextlib import contextmanager

from flask import current_app

from .admission import Notices

log = logging.getLogger(__name__)

_EXTENSION = "sendapp_sends_in_hand"
# A Socket.IO EVENT packet for the default namespace, with an ack id, naming `send`.
SEND_PACKET = re.compile(r'2(\d+)\["send"')
RETRY_ACK = json.dumps([{"ok": False, "error": "retry",
                         "message": "the server is busy; nothing was stored, try again"}])


class SendsInHand:
    """How many sends this process is handling (from dispatch to ack), against a bound."""

    def __init__(self, limit):
        self.limit = limit
        self.count = 0
        self.lock = threading.Lock()

    def full(self):
        return self.count >= self.limit

    @contextmanager
    def one(self):
        with self.lock:
            self.count += 1
        try:
            yield
        finally:
            with self.lock:
                self.count -= 1


def sends_in_hand(app=None):
    """This app's SendsInHand (one per server process and app)."""
    app = app or current_app._get_current_object()
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = app.extensions.setdefault(_EXTENSION, SendsInHand(app.config["SEND_CONCURRENCY"]))
    return found


def shed_sends(server, in_hand):
    """Answer `send` packets `retry` at the Engine.IO edge while `in_hand` is full.

    :param server: the socketio.Server Flask-SocketIO made (`socketio.server`).
    """
    eio = server.eio
    handle = eio.handlers["message"]
    notices = Notices(log)

    def shed(eio_sid, data):
        if in_hand.full() and isinstance(data, str) and data.startswith("2"):
            found = SEND_PACKET.match(data)
            if found is not None:
                notices.note("shed", "busy: sends answered retry (%d in hand)", in_hand.count)
                eio.send(eio_sid, "3" + found.group(1) + RETRY_ACK)
                return None
        return handle(eio_sid, data)

    eio.on("message", shed)
