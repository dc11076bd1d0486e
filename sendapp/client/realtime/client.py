"""`RealtimeClient`: the parts of the live client put together, and nothing else.

Each job is a mixin in its own module, and they share this one object because
they share one connection, one epoch and one cursor: passing those around as
callbacks would add wiring without separating anything. A conversation kind is
one more mixin (pairs.py, groups.py).
"""
from .catchup import SYNC_LIMIT, CatchUpMixin
from .connection import ConnectionMixin
from .events import EventsMixin
from .groups import GroupMixin
from .inbox import InboxMixin
from .outbox import OutboxMixin
from .pairs import PairMixin
from .state import ClientState


class RealtimeClient(ConnectionMixin, EventsMixin, CatchUpMixin, InboxMixin, OutboxMixin,
                     PairMixin, GroupMixin):
    """One Socket.IO connection of a logged-in `Account`, with outbox, cursor and dedup.

    :param account: a logged-in `sendapp.client.account.Account`.
    :param polling: force HTTP long-polling (no WebSocket upgrade).
    :param outbox_path: JSON file keeping the outbox and the cursor across restarts.
    :param on_message: optional callback (plain or async) for each `IncomingMessage`.
    :param on_event: optional callback ``(name, data)`` for `typing`, `read`,
        `presence`, `friends`, `key_changed`, `group`, `groups_changed` (after a
        reconnect, §9.5), `connected`, `disconnected` and
        `connect_error`.
    :param start_at: where a client without a saved cursor starts: ``"beginning"``
        (cursor 0: sync every stored message) or ``"latest"`` (only new ones).
    :param queue_messages: also put each message on the queue read by `messages()`.
    """

    def __init__(self, account, *, polling=False, outbox_path=None, on_message=None,
                 on_event=None, start_at="beginning", queue_messages=True,
                 reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5.0,
                 ack_timeout=20.0, request_timeout=10.0, sync_limit=SYNC_LIMIT):
        self._init_catch_up(start_at, sync_limit)  # first: it refuses a bad start_at
        self.account = account
        self.api = account.api
        self.state = ClientState(outbox_path, user_id=account.id, server=self.api.base_url)
        self._init_connection(polling, reconnection, reconnection_delay,
                              reconnection_delay_max, ack_timeout, request_timeout)
        self._init_events(on_event)
        self._init_inbox(on_message, queue_messages)
        self._init_outbox()
        self._init_groups()  # after the outbox and inbox: it registers with both
