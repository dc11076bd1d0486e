"""One-to-one conversations: what the client says to one friend (§4, §8).

Everything here names a friend (`to`/`friend` on the wire); the kind-neutral
machinery (outbox, cursor, delivery) is elsewhere, so group conversations
(§9) can be a sibling module instead of `if group` branches in these methods.
"""
import asyncio
import logging

import socketio

from ..http import ApiFailure
from .attachments import read_attachment
from .errors import RealtimeError

log = logging.getLogger("sendapp.client")


class PairMixin:
    """Join, typing, read markers and sends for pair conversations.

    Uses from the client: `account`, `api`, `_call` (connection.py), `sync`
    (catchup.py) and `queue_envelope`/`send_envelope` (outbox.py).
    """

    async def join(self, friend_id):
        """Join a new friend's pair room (the server joins existing ones on connect)."""
        return await self._call("join", {"friend": friend_id})

    async def typing(self, friend_id, on=True):
        """Tell a friend I am (or stopped) typing; not stored."""
        return await self._call("typing", {"to": friend_id, "on": bool(on)})

    async def read(self, friend_id, up_to):
        """Store my read marker for a conversation; the friend is told."""
        return await self._call("read", {"friend": friend_id, "up_to": up_to})

    async def queue_text(self, friend_id, text):
        """Encrypt and queue a text message without waiting for the ack; return its cid."""
        envelope = await asyncio.to_thread(self.account.encrypt_text, friend_id, text)
        return await self.queue_envelope(envelope)

    async def send_text(self, friend_id, text, timeout=None, confirm_key_change=False):
        """Encrypt and send a text message; return the ack `{ok, id, ts}`."""
        envelope = await asyncio.to_thread(self.account.encrypt_text, friend_id, text, None,
                                           confirm_key_change)
        return await self.send_envelope(envelope, timeout)

    async def send_file(self, friend_id, path_or_bytes, name=None, mime=None, timeout=None):
        """Encrypt and upload an attachment, then send its `file` message; return the ack.

        :param path_or_bytes: a path to read, or the bytes themselves (then `name` is needed).
        """
        data, name, mime = await read_attachment(path_or_bytes, name, mime)
        envelope = await asyncio.to_thread(self.account.upload_file, friend_id, data, name, mime)
        return await self.send_envelope(envelope, timeout)

    async def _join_new_friends(self):
        """After a `friends` event, join every friend's pair room (§8), then sync.

        Joining a room twice is harmless and friend lists are short, so joining all
        avoids guessing which friendship is new. The sync picks up what a new
        friend sent before the join made it live.
        """
        try:
            friends = await asyncio.to_thread(self.api.friends)
            for friend in friends["friends"]:
                await self.join(friend["id"])
            await self.sync()
        except (ApiFailure, RealtimeError, socketio.exceptions.SocketIOError,
                asyncio.TimeoutError) as exc:
            log.warning("could not join the rooms of new friends: %s", exc)
