"""Server pushes: which job reacts to each event, then what the application hears (§8).

The routing sits in one place so a new event (e.g. §9.5's `group`) is one entry
here plus a handler in the module of its job.
"""
import inspect
import logging

from .state import is_id

log = logging.getLogger("sendapp.client")

SERVER_EVENTS = ("typing", "read", "presence", "friends", "key_changed", "group")


class EventsMixin:
    """Bind the socket's handlers and pass server events on to `on_event`.

    Uses from the client: the `_on_connect`/`_on_disconnect`/`_on_connect_error`
    handlers and `_spawn` (connection.py), `_on_message` (catchup.py),
    `_join_new_friends` (pairs.py), `_on_group_event` (groups.py) and `account`.
    """

    def _init_events(self, on_event):
        self.on_event = on_event

    def _bind(self, sio):
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("connect_error", self._on_connect_error)
        sio.on("message", self._on_message)
        for name in SERVER_EVENTS:
            sio.on(name, self._event_forwarder(name))

    def _event_forwarder(self, name):
        async def forward(data=None):
            if name == "key_changed" and isinstance(data, dict) and is_id(data.get("user")):
                self.account.forget_peer(data["user"])
            if name == "friends":
                self._spawn(self._join_new_friends())
            if name == "group":
                self._on_group_event(data)  # groups.py (§9.5)
            await self._emit_event(name, data)
        return forward

    async def _emit_event(self, name, data):
        if self.on_event is None:
            return
        try:
            result = self.on_event(name, data)
            if inspect.isawaitable(result):
                await result
        except Exception:  # an application bug must not break the connection
            log.exception("on_event callback failed for %s", name)
