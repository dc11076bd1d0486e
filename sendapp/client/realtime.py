"""Live side of the Python client: Socket.IO over asyncio (PROTOCOL §8).

`RealtimeClient` wraps `socketio.AsyncClient` (the threaded client misbehaves
over wss, python-engineio issue 461). After every (re)connect it runs `sync`
from its cursor, paging while `more`, and then resends its outbox with the
same cids, so nothing is lost and nothing is shown twice. The outbox and the
cursor live in memory and, given `outbox_path`, in a JSON state file written
before each emit, so a killed client resends on its next start.
"""
import asyncio
import inspect
import json
import logging
import mimetypes
import os
import ssl
import tempfile
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import socketio

from ..crypto import CryptoError
from .http import ApiFailure

log = logging.getLogger("sendapp.client")

STATE_VERSION = 1
KEPT_RESULTS = 10_000  # acks remembered for a late wait_acked(cid)
CALL_POLL = 0.25  # seconds between connection checks while an ack is awaited
SYNC_LIMIT = 200  # the server's default page (§8)
TRANSIENT_ERRORS = frozenset({"retry", "rate_limited"})
SERVER_EVENTS = ("typing", "read", "presence", "friends", "key_changed")


class RealtimeError(Exception):
    """The socket could not be opened or an event was refused."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code
        self.message = message


class SendFailure(RealtimeError):
    """The server refused an envelope for good (`{ok: false, error, message}` ack, §8)."""


class StateError(Exception):
    """The state file is unreadable or belongs to another account or server."""


# --- persistence: outbox + sync cursor -------------------------------------------------
class ClientState:
    """The outbox (envelopes awaiting an ack, by cid, in send order) and the sync cursor.

    With a `path`, every change is written atomically (temp file + rename) so a
    process killed at any moment leaves either the old or the new state.
    """

    def __init__(self, path=None, user_id=None, server=None):
        self.path = Path(path) if path else None
        self.user_id = user_id
        self.server = server
        self.cursor = 0
        self.cursor_known = False  # False until a sync ran or a saved cursor was loaded
        self._outbox = {}
        if self.path is not None and self.path.exists():
            self._load()

    @property
    def pending(self):
        """Envelopes not yet acknowledged, oldest first."""
        return list(self._outbox.values())

    def __contains__(self, cid):
        return cid in self._outbox

    def __len__(self):
        return len(self._outbox)

    def add(self, envelope):
        """Queue an envelope and persist it before anything is emitted."""
        self._outbox[envelope["cid"]] = dict(envelope)
        self.save()

    def remove(self, cid):
        """Forget an acknowledged (or refused) envelope."""
        if self._outbox.pop(cid, None) is not None:
            self.save()

    def advance(self, message_id):
        """Move the cursor to `message_id` if higher (§8); True when it moved."""
        if isinstance(message_id, int) and not isinstance(message_id, bool) \
                and message_id > self.cursor:
            self.cursor = message_id
            return True
        return False

    def as_json(self):
        return {"v": STATE_VERSION, "server": self.server, "user": self.user_id,
                "cursor": self.cursor, "cursor_known": self.cursor_known,
                "outbox": list(self._outbox.values())}

    def save(self):
        """Write the state file atomically (0600); a no-op without a path."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sendapp-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.as_json(), handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _load(self):
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc}") from None
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            raise StateError(f"{self.path} is not a SendApp client state file")
        for name, mine in (("user", self.user_id), ("server", self.server)):
            theirs = data.get(name)
            if mine is not None and theirs is not None and theirs != mine:
                raise StateError(f"{self.path} belongs to {name} {theirs!r}, not {mine!r}")
        cursor = data.get("cursor", 0)
        outbox = data.get("outbox", [])
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0 \
                or not isinstance(outbox, list) \
                or not all(isinstance(e, dict) and isinstance(e.get("cid"), str) for e in outbox):
            raise StateError(f"{self.path} is damaged")
        self.cursor = cursor
        self.cursor_known = bool(data.get("cursor_known", cursor > 0))
        self._outbox = {e["cid"]: e for e in outbox}


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


# --- what the application receives ---------------------------------------------------------
@dataclass
class IncomingMessage:
    """A received envelope and its plaintext, or the reason it could not be opened.

    A message that fails to decrypt is still delivered (`plain` None, `error`
    set) so the user sees "could not decrypt" instead of a silent gap (§5).
    """

    id: int
    sender: int
    recipient: int
    ts: int
    cid: str
    peer: int
    mine: bool
    plain: dict | None
    error: str | None = None
    envelope: dict = field(default_factory=dict, repr=False)
    unverified: bool = False  # sent under a key the user has not accepted (§6)

    @property
    def ok(self):
        return self.plain is not None

    @property
    def kind(self):
        return self.plain.get("t") if self.plain else None

    @property
    def text(self):
        """The body of a text message, else None."""
        return self.plain.get("body") if self.kind == "text" else None


def ssl_context(ca=None, insecure=False):
    """An SSL context trusting `ca` (or the system store), or none at all when insecure."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca)


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class RealtimeClient:
    """One Socket.IO connection of a logged-in `Account`, with outbox, cursor and dedup.

    :param account: a logged-in `sendapp.client.account.Account`.
    :param polling: force HTTP long-polling (no WebSocket upgrade).
    :param outbox_path: JSON file keeping the outbox and the cursor across restarts.
    :param on_message: optional callback (plain or async) for each `IncomingMessage`.
    :param on_event: optional callback ``(name, data)`` for `typing`, `read`,
        `presence`, `friends`, `key_changed`, `connected`, `disconnected` and
        `connect_error`.
    :param start_at: where a client without a saved cursor starts: ``"beginning"``
        (cursor 0: sync every stored message) or ``"latest"`` (only new ones).
    :param queue_messages: also put each message on the queue read by `messages()`.
    """

    def __init__(self, account, *, polling=False, outbox_path=None, on_message=None,
                 on_event=None, start_at="beginning", queue_messages=True,
                 reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5.0,
                 ack_timeout=20.0, request_timeout=10.0, sync_limit=SYNC_LIMIT):
        if start_at not in ("beginning", "latest"):
            raise ValueError("start_at must be 'beginning' or 'latest'")
        self.account = account
        self.api = account.api
        self.polling = polling
        self.on_message = on_message
        self.on_event = on_event
        self.start_at = start_at
        self.queue_messages = queue_messages
        self.reconnection = reconnection
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.ack_timeout = ack_timeout
        self.request_timeout = request_timeout
        self.sync_limit = sync_limit
        self.state = ClientState(outbox_path, user_id=account.id, server=self.api.base_url)
        self.seen = SeenIds()
        self.sio = None
        self._http = None
        self._queue = asyncio.Queue()
        self._receive_lock = asyncio.Lock()
        self._sync_lock = asyncio.Lock()
        self._ready = asyncio.Event()  # set once sync + outbox flush finished after a connect
        self._settled = asyncio.Event()  # ready, or the post-connect work failed for good
        self._epoch = 0  # counts connections; stale background work checks it
        self._syncing = False
        self._held = []  # live messages that arrived while the post-connect sync ran
        self._frozen = False  # a sync is incomplete: live ids must not move the cursor
        self._live_max = 0
        self._attempted = {}  # cid → epoch of its last emit
        self._waiters = {}  # cid → future resolved by its ack
        self._results = OrderedDict()  # cid → ack or SendFailure, the most recent ones
        self._tasks = set()
        self._fatal = None
        self._connect_error = None

    # --- properties ---------------------------------------------------------------
    @property
    def cursor(self):
        """The highest message id received through `sync` or live `message` events (§8)."""
        return self.state.cursor

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

    @property
    def pending(self):
        """Envelopes waiting for an ack."""
        return self.state.pending

    # --- connection -----------------------------------------------------------------
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
        """Fresh headers for every (re)connect: the session cookie authenticates the socket."""
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

    def _bind(self, sio):
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("connect_error", self._on_connect_error)
        sio.on("message", self._on_message)
        for name in SERVER_EVENTS:
            sio.on(name, self._event_forwarder(name))

    def _spawn(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- socket event handlers ------------------------------------------------------
    async def _on_connect(self):
        """Every (re)connect: hold live messages, then sync + resend in the background.

        The work runs in a task: this handler runs before `connect()` returns and
        before acks can be processed, so it must not wait for any.
        """
        self._epoch += 1
        self._ready.clear()
        self._syncing = True  # hold live messages until the sync has delivered older ones
        self._frozen = True
        self._spawn(self._after_connect(self._epoch))
        await self._emit_event("connected", {"transport": self.sio.transport()})

    async def _on_disconnect(self, reason=None):
        self._ready.clear()
        await self._emit_event("disconnected", {"reason": str(reason) if reason else None})

    async def _on_connect_error(self, data=None):
        self._connect_error = data
        await self._emit_event("connect_error", data)

    async def _on_message(self, envelope=None):
        """Server → client `message` (§8): deliver once, after any running sync."""
        if not isinstance(envelope, dict):
            return
        if self._syncing:
            self._held.append(envelope)
            return
        await self._receive([envelope], live=True)

    def _event_forwarder(self, name):
        async def forward(data=None):
            if name == "key_changed" and isinstance(data, dict) and _is_id(data.get("user")):
                self.account.forget_peer(data["user"])
            if name == "friends":
                self._spawn(self._join_new_friends())
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

    # --- sync (§8) -------------------------------------------------------------------------
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
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

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
            ids = [m["id"] for m in messages if _is_id(m.get("id"))]
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

    async def _receive(self, envelopes, live=False):
        """Move the cursor, then decrypt and deliver each id once, in arrival order.

        While a sync has not completed, live ids do not move the cursor: one could
        jump over messages the sync has not reached, and a restart would skip them.
        """
        async with self._receive_lock:
            moved = False
            for envelope in envelopes:
                message_id = envelope.get("id")
                if not _is_id(message_id):
                    continue
                if live and self._frozen:
                    self._live_max = max(self._live_max, message_id)
                else:
                    moved |= self.state.advance(message_id)
                if self.seen.add(message_id):
                    await self._deliver(await self._open(envelope))
            if moved:
                self.state.save()

    async def _open(self, envelope):
        message = IncomingMessage(
            id=envelope.get("id"), sender=envelope.get("from"), recipient=envelope.get("to"),
            ts=envelope.get("ts"), cid=envelope.get("cid"), peer=None,
            mine=envelope.get("from") == self.account.id, plain=None, envelope=envelope)
        try:
            message.peer = self.account.peer_of(envelope)
            message.plain = await asyncio.to_thread(self.account.decrypt, envelope)
            message.unverified = await asyncio.to_thread(self._unverified, envelope)
        except CryptoError as error:
            message.error = f"could not decrypt: {error}"
        except ApiFailure as failure:
            message.error = f"could not decrypt: the sender's keys are unavailable ({failure})"
        except Exception as error:  # whatever a hostile server sends, show an item, go on
            log.warning("message %r could not be opened: %r", message.id, error)
            message.error = f"could not decrypt: malformed envelope ({type(error).__name__})"
        return message

    def _unverified(self, envelope):
        """Whether the sender's key is one the user accepted (§6); when unsure, it is not."""
        try:
            return self.account.is_unverified(envelope)
        except Exception as error:  # keys unavailable or the vault write failed: mark it
            log.warning("could not check the key of message %r: %r", envelope.get("id"), error)
            return True

    async def _deliver(self, message):
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

    # --- friends and rooms ---------------------------------------------------------------
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

    # --- emitting -------------------------------------------------------------------------------
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
            raise RealtimeError(answer.get("message") or f"{event} was refused",
                                code=answer.get("error") or "bad_response")
        return answer

    async def join(self, friend_id):
        """Join a new friend's pair room (the server joins existing ones on connect)."""
        return await self._call("join", {"friend": friend_id})

    async def typing(self, friend_id, on=True):
        """Tell a friend I am (or stopped) typing; not stored."""
        return await self._call("typing", {"to": friend_id, "on": bool(on)})

    async def read(self, friend_id, up_to):
        """Store my read marker for a conversation; the friend is told."""
        return await self._call("read", {"friend": friend_id, "up_to": up_to})

    # --- sending: outbox first, then emit (§8) ---------------------------------------------
    def _waiter(self, cid):
        future = self._waiters.get(cid)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # Nobody may await a queued message: mark its failure as seen.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._waiters[cid] = future
        return future

    async def queue_envelope(self, envelope):
        """Put an envelope in the (persisted) outbox and emit it when ready; return its cid."""
        cid = envelope["cid"]
        self._results.pop(cid, None)  # a repeated cid waits for its own, new ack
        self._waiter(cid)
        self.state.add(envelope)
        if self.ready:
            self._attempted[cid] = self._epoch
            self._spawn(self._send_one(envelope))
        return cid

    async def wait_acked(self, cid, timeout=None):
        """The ack of a queued cid (`{ok, id, ts}`); the message stays queued on timeout.

        :raises SendFailure: when the server refused the envelope for good.
        :raises asyncio.TimeoutError: after `timeout` seconds without an ack.
        """
        if cid in self._results:
            result = self._results[cid]
            if isinstance(result, Exception):
                raise result
            return result
        if cid not in self.state:
            raise ValueError(f"no message with cid {cid} was queued")
        return await asyncio.wait_for(asyncio.shield(self._waiter(cid)), timeout)

    async def send_envelope(self, envelope, timeout=None):
        """Queue an envelope and wait for its ack."""
        cid = await self.queue_envelope(envelope)
        return await self.wait_acked(cid, timeout)

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
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(path_or_bytes)
            if not name:
                raise ValueError("name is required when sending bytes")
        else:
            path = Path(path_or_bytes)
            data = await asyncio.to_thread(path.read_bytes)
            name = name or path.name
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        envelope = await asyncio.to_thread(self.account.upload_file, friend_id, data, name, mime)
        return await self.send_envelope(envelope, timeout)

    async def flush(self, timeout=None):
        """Wait until every queued envelope is acknowledged (or refused)."""
        async def drain():
            while self.state.pending:
                futures = [self._waiter(e["cid"]) for e in self.state.pending]
                await asyncio.gather(*(asyncio.shield(f) for f in futures),
                                     return_exceptions=True)
        await asyncio.wait_for(drain(), timeout)

    async def _flush(self, epoch):
        """Resend the outbox in order on this connection; new sends join the end."""
        while epoch == self._epoch:
            batch = [e for e in self.state.pending if self._attempted.get(e["cid"]) != epoch]
            if not batch:
                return
            for envelope in batch:
                if epoch != self._epoch:
                    return
                if envelope["cid"] not in self.state:
                    continue
                self._attempted[envelope["cid"]] = epoch
                await self._send_one(envelope)

    async def _send_one(self, envelope, attempt=0):
        """Emit one envelope and settle its outbox entry from the ack."""
        cid = envelope["cid"]
        try:
            ack = await self._call("send", envelope)
        except RealtimeError as error:
            if error.code in ("disconnected", "timeout"):
                return  # stays queued: the next connect resends it
            if error.code in TRANSIENT_ERRORS:
                self._spawn(self._retry(envelope, attempt + 1))
                return
            if error.code == "unauthorized":
                return  # stays queued for a later, logged-in run
            self.state.remove(cid)
            self._settle(cid, error=SendFailure(error.message, code=error.code))
            return
        self.state.remove(cid)
        self._settle(cid, ack=ack)

    async def _retry(self, envelope, attempt):
        await asyncio.sleep(min(0.5 * 2 ** attempt, 10.0))
        if envelope["cid"] in self.state and self.ready:
            await self._send_one(envelope, attempt)

    def _settle(self, cid, ack=None, error=None):
        """Record the outcome of a cid and wake whoever waits for it."""
        self._attempted.pop(cid, None)
        self._results[cid] = error if error is not None else ack
        while len(self._results) > KEPT_RESULTS:
            self._results.popitem(last=False)
        future = self._waiters.pop(cid, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(ack)


__all__ = ["ClientState", "IncomingMessage", "RealtimeClient", "RealtimeError", "SeenIds",
           "SendFailure", "StateError", "ssl_context"]
