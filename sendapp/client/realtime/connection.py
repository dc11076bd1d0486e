"""The Socket.IO connection: open, authenticate, reconnect, and emit with an ack (§8).

`socketio.AsyncClient` is used because the threaded client misbehaves over wss
(python-engineio issue 461). Each (re)connect starts a new epoch, so work begun
for a dropped connection notices it is stale, and runs catch-up then resend
before the client counts as ready: nothing is lost and nothing is shown twice.
"""
import asyncio
import logging
import ssl
import time

import aiohttp
import socketio
from yarl import URL
from engineio import payload as engineio_payload

from .errors import RealtimeError

log = logging.getLogger("sendapp.client")

CALL_POLL = 0.25  # seconds between connection checks while an ack is awaited
# Long-polling batches every queued packet into one HTTP body, both ways (python-engineio).
# The server answers a poll with all it has queued, and python-engineio's decoder refuses
# more than 16 packets (a guard meant for servers), after which its client hangs, connected
# but deaf; a burst of messages (a group of three is enough) queues more. So a polling
# client accepts larger batches, and keeps at most POLLING_WINDOW sends unacknowledged,
# since the server's edge refuses a POST of more than 16 packets (sendapp/edge.py).
POLLING_DECODE_PACKETS = 4096
POLLING_WINDOW = 8


def ssl_context(ca=None, insecure=False):
    """An SSL context trusting `ca` (or the system store), or none at all when insecure."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca)


class ConnectionMixin:
    """Connection lifecycle, the post-connect catch-up + resend, and `_call`.

    Jobs that must run after each catch-up register in `_when_ready` (groups.py does).

    Uses from the client: `api`, `state`, `_bind`/`_emit_event` (events.py),
    `_hold_live`/`_catch_up` (catchup.py), `_flush` (outbox.py).
    """

    def _init_connection(self, polling, reconnection, reconnection_delay,
                         reconnection_delay_max, ack_timeout, request_timeout):
        self.polling = polling
        self.reconnection = reconnection
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.ack_timeout = ack_timeout
        self.request_timeout = request_timeout
        self.sio = None
        self._http = None
        self._ready = asyncio.Event()  # set once sync + outbox flush finished after a connect
        self._settled = asyncio.Event()  # ready, or the post-connect work failed for good
        self._epoch = 0  # counts connections; stale background work checks it
        self._tasks = set()
        self._fatal = None
        self._connect_error = None
        self._when_ready = []  # async (epoch) callables started after each catch-up + resend
        # Sends awaiting their ack while the transport is long-polling (see POLLING_WINDOW).
        self._in_flight = asyncio.Semaphore(POLLING_WINDOW)

    @property
    def connected(self):
        """The default namespace is up (already true inside the `connect` handler)."""
        return self.sio is not None and "/" in self.sio.namespaces

    @property
    def ready(self):
        """Connected, synced, outbox flushed."""
        return self.connected and self._ready.is_set()

    @property
    def transport(self):
        """``"websocket"`` or ``"polling"`` while connected."""
        return self.sio.transport() if self.connected else None

    async def connect(self, timeout=30.0):
        """Open the socket with the account's session cookie; return after sync and resend.

        :raises RealtimeError: when the server refuses the socket or the first sync fails.
        """
        if self.connected:
            return
        if self.sio is not None:  # a previous client may still be trying to reconnect
            await self.disconnect()
        self._fatal = None
        self._connect_error = None
        self._ready.clear()
        self._settled.clear()
        self._hold_live()  # a live message can be handled before _on_connect (see there)
        # Process-wide (python-engineio reads it from the class), and for every client: one
        # that may upgrade also polls until the upgrade, or for good where it is blocked.
        engineio_payload.Payload.max_decode_packets = max(
            engineio_payload.Payload.max_decode_packets, POLLING_DECODE_PACKETS)
        connector = aiohttp.TCPConnector(ssl=ssl_context(self.api.ca, self.api.insecure))
        self._http = aiohttp.ClientSession(connector=connector,
                                           cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sio = socketio.AsyncClient(
            reconnection=self.reconnection, reconnection_delay=self.reconnection_delay,
            reconnection_delay_max=self.reconnection_delay_max, handle_sigint=False,
            http_session=self._http, request_timeout=self.request_timeout)
        self._bind(self.sio)
        try:
            await asyncio.wait_for(self.sio.connect(
                self.api.base_url, headers=self._handshake_headers,
                transports=["polling"] if self.polling else None, wait_timeout=timeout,
            ), timeout)
        except (socketio.exceptions.ConnectionError, asyncio.TimeoutError, OSError) as exc:
            await self._close_transport()
            self.sio = None
            detail = self._connect_error or str(exc) or type(exc).__name__
            if isinstance(detail, dict):
                detail = detail.get("message", detail)
            raise RealtimeError(f"cannot open the live connection to {self.api.base_url}: "
                                f"{detail}", code="connect") from None
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except asyncio.TimeoutError:
            await self.disconnect()
            raise RealtimeError("connected, but the first sync did not finish in time",
                                code="timeout") from None
        if self._fatal is not None:
            error = self._fatal
            await self.disconnect()
            raise error

    def _handshake_headers(self):
        """Fresh headers for every (re)connect: the session cookie authenticates the socket.

        The cookies also go into the HTTP session's jar: python-engineio sends these headers
        with the handshake only, and a proxy that keeps a session on one server process by
        its cookie (deploy/nginx.conf) must see it on every long-polling request too.
        """
        if self._http is not None:
            self._http.cookie_jar.update_cookies(
                {c.name: c.value for c in self.api.session.cookies}, URL(self.api.base_url))
        return {"Cookie": self.api.cookie_header()}

    async def disconnect(self):
        """Close the socket, stop reconnecting and background work; keep the outbox."""
        self._epoch += 1
        self._ready.clear()
        sio = self.sio
        if sio is not None:
            try:
                await asyncio.wait_for(sio.shutdown(), 10)
            except (asyncio.TimeoutError, socketio.exceptions.SocketIOError):
                log.warning("the socket did not close cleanly")
            self.sio = None
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_transport()
        self.state.save()

    async def _close_transport(self):
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.disconnect()

    async def wait_closed(self):
        """Block until the connection ends for good (reconnection included)."""
        if self.sio is not None:
            await self.sio.wait()

    def _spawn(self, coroutine):
        """Run background work that `disconnect` cancels and awaits."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- socket lifecycle handlers (bound in events.py) ----------------------------------
    async def _on_connect(self):
        """Every (re)connect: hold live messages, then sync + resend in the background.

        The work runs in a task: this handler runs before `connect()` returns and
        before acks can be processed, so it must not wait for any.
        """
        self._epoch += 1
        self._ready.clear()
        self._hold_live()  # until the sync has delivered older messages
        self._spawn(self._after_connect(self._epoch))
        await self._emit_event("connected", {"transport": self.sio.transport()})

    async def _on_disconnect(self, reason=None):
        """Hold live messages from now on: after a reconnect the first ones can be handled
        before `_on_connect` runs, and one that moved the cursor then would make the sync
        skip what the server stored while this client was away."""
        self._ready.clear()
        self._hold_live()
        await self._emit_event("disconnected", {"reason": str(reason) if reason else None})

    async def _on_connect_error(self, data=None):
        self._connect_error = data
        await self._emit_event("connect_error", data)

    async def _after_connect(self, epoch):
        """Sync, then resend the outbox; retry while this connection lasts (§8)."""
        delay = 0.5
        while epoch == self._epoch and self.connected:
            try:
                await self._catch_up(epoch)
                await self._flush(epoch)
            except RealtimeError as error:
                if error.code == "unauthorized":
                    self._fatal = error
                    self._settled.set()
                    return
                log.warning("post-connect sync failed (%s); retrying", error)
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError) as exc:
                log.warning("post-connect work failed (%s); retrying", exc)
            except Exception as exc:  # e.g. the state file cannot be written
                log.exception("post-connect work failed")
                self._fatal = RealtimeError(f"after connecting: {exc}", code="client")
                self._settled.set()
                return
            else:
                if epoch == self._epoch:
                    self._ready.set()
                    self._settled.set()
                    for hook in self._when_ready:
                        self._spawn(hook(epoch))
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # --- emitting ----------------------------------------------------------------------------
    async def _call(self, event, data, timeout=None):
        """Emit with an ack; raise RealtimeError for `{ok: false}` answers.

        Unlike `AsyncClient.call`, give up as soon as the connection drops: its ack
        can never come, and a post-connect sync stuck here would hold the sync lock
        and delay the next connection's sync and resend by the whole timeout.
        """
        sio = self.sio
        if sio is None or "/" not in sio.namespaces:
            raise RealtimeError("not connected", code="disconnected")
        answer_future = asyncio.get_running_loop().create_future()

        def on_ack(*args):
            if not answer_future.done():
                answer_future.set_result(args[0] if args else None)

        deadline = time.monotonic() + (timeout or self.ack_timeout)
        try:
            await sio.emit(event, data, callback=on_ack)
            while not answer_future.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RealtimeError(f"no answer to {event} in time", code="timeout")
                if self.sio is not sio or "/" not in sio.namespaces:
                    raise RealtimeError("the connection dropped", code="disconnected")
                await asyncio.wait([answer_future], timeout=min(left, CALL_POLL))
        except socketio.exceptions.BadNamespaceError:
            raise RealtimeError("not connected", code="disconnected") from None
        answer = answer_future.result()
        if not isinstance(answer, dict) or not answer.get("ok"):
            answer = answer if isinstance(answer, dict) else {}
            details = {k: v for k, v in answer.items() if k not in ("ok", "error", "message")}
            raise RealtimeError(answer.get("message") or f"{event} was refused",
                                code=answer.get("error") or "bad_response", details=details)
        return answer
