"""Delivery: each message id reaches the application once, however it arrived (§8).

A message can come live and again by sync (or twice by sync after a reconnect);
this module is the one place that says which copy is shown. It holds no
conversation rule, so pair and group messages go through the same path.
"""
import asyncio
import inspect
import logging
from collections import deque

from .opening import open_envelope
from .state import is_id

log = logging.getLogger("sendapp.client")


class SeenIds:
    """Message ids already delivered, so a message arriving live and by sync shows once."""

    def __init__(self, capacity=100_000):
        self.capacity = capacity
        self._ids = set()
        self._order = deque()

    def add(self, message_id):
        """Remember an id; False when it was already seen."""
        if message_id in self._ids:
            return False
        self._ids.add(message_id)
        self._order.append(message_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())
        return True

    def __contains__(self, message_id):
        return message_id in self._ids

    def __len__(self):
        return len(self._ids)


class InboxMixin:
    """Receive envelopes, open them and hand each id to the application once.

    Uses from the client: `account`, `state`, and `_track` (the cursor rule, catchup.py).
    """

    def _init_inbox(self, on_message, queue_messages):
        self.on_message = on_message
        self.queue_messages = queue_messages
        self.seen = SeenIds()
        self.seen_cids = SeenIds()  # (from, cid) of opened messages (§8, §9.6)
        self._queue = asyncio.Queue()
        self._receive_lock = asyncio.Lock()
        self._observers = []  # async callables a conversation module sees each message with

    def _observe(self, observer):
        """Let a job see each delivered message first (groups keep their rosters so)."""
        self._observers.append(observer)

    async def _receive(self, envelopes, live=False):
        """Move the cursor, then decrypt and deliver each id once, in arrival order."""
        async with self._receive_lock:
            moved = False
            for envelope in envelopes:
                message_id = envelope.get("id")
                if not is_id(message_id):
                    continue
                moved |= self._track(message_id, live)
                if self.seen.add(message_id):
                    message = await open_envelope(self.account, envelope)
                    if self._first_of_its_cid(message):
                        await self._deliver(message)
            if moved:
                self.state.save()

    def _first_of_its_cid(self, message):
        """False for a second opened message with the same (from, cid) under another id.

        The server answers a repeated cid with its first id (§8, §9.5), so this only
        hides a copy a faulty server stored twice. Only opened messages count: a
        forged copy that fails to decrypt must not hide the real one.
        """
        if not message.ok:
            return True
        return self.seen_cids.add((message.sender, message.cid))

    async def _deliver(self, message):
        for observer in self._observers:
            try:
                await observer(message)
            except Exception:  # a bookkeeping bug must not hide the message
                log.exception("observer failed for message %r", message.id)
        if self.queue_messages:
            self._queue.put_nowait(message)
        if self.on_message is not None:
            try:
                result = self.on_message(message)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_message callback failed")

    async def next_message(self, timeout=None):
        """The next delivered message (waits up to `timeout` seconds, None = forever)."""
        if timeout is None:
            return await self._queue.get()
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def messages(self):
        """Iterate over delivered messages as they arrive (history from sync included)."""
        while True:
            yield await self._queue.get()

    def mark_seen(self, message_ids):
        """Treat ids as already shown (e.g. printed from HTTP history); the cursor stays."""
        for message_id in message_ids:
            self.seen.add(message_id)
