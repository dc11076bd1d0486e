"""The sync cursor and catch-up: fetch what was missed, without ever skipping a message (§8).

One cursor covers every conversation of the account (`sync` pages by global
message id), so this module never names a friend; groups will reuse it as is.
"""
import asyncio

from .state import is_id

SYNC_LIMIT = 200  # the server's default page (§8)


class CatchUpMixin:
    """Page through `sync` from the cursor; hold live messages until older ones are delivered.

    Uses from the client: `state`, `_call` and `_epoch` (connection.py), `_receive` (inbox.py).
    """

    def _init_catch_up(self, start_at, sync_limit):
        if start_at not in ("beginning", "latest"):
            raise ValueError("start_at must be 'beginning' or 'latest'")
        self.start_at = start_at
        self.sync_limit = sync_limit
        self._sync_lock = asyncio.Lock()
        self._syncing = False  # a post-connect sync runs: live messages are held
        self._held = []  # live messages that arrived while the post-connect sync ran
        self._frozen = False  # a sync is incomplete: live ids must not move the cursor
        self._live_max = 0

    @property
    def cursor(self):
        """The highest message id received through `sync` or live `message` events (§8)."""
        return self.state.cursor

    def _track(self, message_id, live):
        """Move the cursor to a received id; True when it moved.

        While a sync has not completed, live ids do not move the cursor: one could
        jump over messages the sync has not reached, and a restart would skip them.
        """
        if live and self._frozen:
            self._live_max = max(self._live_max, message_id)
            return False
        return self.state.advance(message_id)

    def _hold_live(self):
        """Before a post-connect sync: hold live messages and keep them off the cursor."""
        self._syncing = True
        self._frozen = True

    async def _on_message(self, envelope=None):
        """Server → client `message` (§8): deliver once, after any running sync."""
        if not isinstance(envelope, dict):
            return
        if self._syncing:
            self._held.append(envelope)
            return
        await self._receive([envelope], live=True)

    async def _catch_up(self, epoch):
        """Sync from the cursor, page while `more`, then deliver the held live messages."""
        async with self._sync_lock:
            await self._catch_up_locked(epoch)

    async def _catch_up_locked(self, epoch):
        self._frozen = True
        if not self.state.cursor_known and self.start_at == "latest":
            answer = await self._call("sync", {"after": 0, "limit": 1})
            self.state.advance(answer.get("last", 0))
        after = self.state.cursor
        while True:
            answer = await self._call("sync", {"after": after, "limit": self.sync_limit})
            messages = [m for m in answer.get("messages", []) if isinstance(m, dict)]
            await self._receive(messages)
            ids = [m["id"] for m in messages if is_id(m.get("id"))]
            if not answer.get("more") or not ids:
                break
            after = max(ids)
        if epoch != self._epoch:
            return  # the cursor stays frozen until a later sync completes
        self._frozen = False
        self.state.advance(self._live_max)
        self.state.cursor_known = True
        held, self._held = self._held, []
        self._syncing = False
        await self._receive(sorted(held, key=lambda m: m.get("id") or 0), live=True)
        self.state.save()

    async def sync(self):
        """Sync from the cursor now; it also runs by itself after every (re)connect."""
        await self._catch_up(self._epoch)
