"""A minimal Socket.IO 5 / Engine.IO 4 client over one aiohttp WebSocket, for load generation.

python-socketio's AsyncClient parses every packet into objects and runs each handler in
a task; at thousands of packets per second that costs more CPU than the server it is
meant to measure. This client speaks only what the benchmark needs: the WebSocket
transport (long-polling: bench/polling.py, on the same `SocketIO` layer), the default
namespace, text packets, acks. Outgoing
payloads are JSON text made before the timed part; an incoming `message` event is not
parsed, only its `cid` is sliced out (PROTOCOL §5 puts it right after `"cid":"`).
Pings are answered by the reader, so idle sockets stay open as long as needed.
"""
import asyncio
import itertools
import json
import time
from urllib.parse import urlencode

import aiohttp

MESSAGE_PREFIX = '42["message",'
CID_KEY = '"cid":"'
CID_CHARS = 22


class WireError(Exception):
    """The socket could not be opened or was refused (`44` connect error)."""


def cid_of(packet):
    """The `cid` of a `message` event packet, without parsing its JSON."""
    start = packet.find(CID_KEY)
    if start < 0:
        return None
    start += len(CID_KEY)
    return packet[start:start + CID_CHARS]


class SocketIO:
    """Socket.IO 5 over one Engine.IO 4 transport: namespace connect, events, acks, pongs.

    A transport subclass opens the Engine.IO session (`_open`), reads packets into
    `_packet` (`_read`), writes one packet (`_write`) and shuts (`_shut`).

    :param http: an aiohttp.ClientSession (with a DummyCookieJar: the cookie is given here).
    :param base_url: ``https://127.0.0.1:<port>``.
    :param cookie: the `Cookie` header that authenticates the socket (PROTOCOL §8).
    :param query: extra query parameters (the bare relays name user and peer there).
    :param on_message: called as ``on_message(cid, received_at, packet)`` for `message` events.
    """

    transport = None

    def __init__(self, http, base_url, ssl_context, cookie=None, query=None, on_message=None):
        params = {"EIO": "4", "transport": self.transport, **(query or {})}
        self.url = f"{base_url}/socket.io/?{urlencode(params)}"
        self.http = http
        self.ssl_context = ssl_context
        self.cookie = cookie
        self.headers = {"Cookie": cookie} if cookie else None
        self.on_message = on_message
        self.events = []  # (name, data) of events other than `message`, for checks
        self.deflate = False
        self.closed = False
        self.close_reason = None
        self._ack_ids = itertools.count(1)
        self._pending = {}  # ack id → callback(answer, received_at)
        self._connected = None
        self._reader = None

    async def connect(self, timeout=10.0):
        """Open the transport, connect the default namespace; raise WireError when refused."""
        self._connected = asyncio.get_running_loop().create_future()
        await self._open(timeout)
        self._reader = asyncio.ensure_future(self._read())
        await self._write("40")
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise WireError("no Socket.IO connect answer in time") from None
        return self

    def _ended(self, reason):
        """The transport is gone: mark the socket closed, fail a pending connect."""
        self.closed = True
        self.close_reason = self.close_reason or reason
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(WireError(self.close_reason))

    def _packet(self, data):
        now = time.perf_counter()
        kind = data[:2]
        if kind == "42":
            if data.startswith(MESSAGE_PREFIX):
                if self.on_message is not None:
                    self.on_message(cid_of(data), now, data)
            else:
                name, *args = json.loads(data[2:])
                self.events.append((name, args[0] if args else None))
        elif kind == "43":
            bracket = data.index("[", 2)
            callback = self._pending.pop(int(data[2:bracket]), None)
            if callback is not None:
                args = json.loads(data[bracket:])
                callback(args[0] if args else None, now)
        elif data == "2":
            asyncio.ensure_future(self._send("3"))  # Engine.IO pong
        elif kind == "40":
            if not self._connected.done():
                self._connected.set_result(True)
        elif kind == "44":
            if not self._connected.done():
                self._connected.set_exception(WireError(f"connection refused: {data[2:]}"))
        elif kind == "41" or data[:1] == "1":
            self.close_reason = "disconnected by the server"

    async def _send(self, text):
        """Write one packet, noting (not raising) a failure: for pongs."""
        if not self.closed:
            try:
                await self._write(text)
            except (WireError, aiohttp.ClientError, OSError, ConnectionError) as error:
                self.close_reason = self.close_reason or repr(error)

    async def emit(self, event, payload_json, on_ack):
        """Send `event` with a payload that is already JSON text; `on_ack(answer, at)` later."""
        if self.closed:
            raise WireError(f"socket closed: {self.close_reason}")
        ack_id = next(self._ack_ids)
        self._pending[ack_id] = on_ack
        await self._write(f'42{ack_id}["{event}",{payload_json}]')
        return ack_id

    def forget(self, ack_id):
        """Drop the callback of an ack that will not be waited for any more."""
        self._pending.pop(ack_id, None)

    async def call(self, event, data, timeout=30.0):
        """Emit with an ack and wait (bounded) for the answer."""
        future = asyncio.get_running_loop().create_future()

        def answered(answer, _at):
            if not future.done():
                future.set_result(answer)

        ack_id = await self.emit(event, json.dumps(data, separators=(",", ":")), answered)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.forget(ack_id)

    @property
    def outstanding(self):
        return len(self._pending)

    async def close(self):
        """Shut the transport and stop the reader (bounded)."""
        await self._shut()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self.closed = True


class Socket(SocketIO):
    """One logged-in Socket.IO connection over a WebSocket.

    :param compress: offer permessage-deflate (window bits, 0 = do not offer).
    """

    transport = "websocket"

    def __init__(self, http, base_url, ssl_context, cookie=None, query=None,
                 on_message=None, compress=0):
        super().__init__(http, base_url, ssl_context, cookie, query, on_message)
        self.compress = compress
        self.ws = None

    async def _open(self, timeout):
        try:
            self.ws = await asyncio.wait_for(self.http.ws_connect(
                self.url, headers=self.headers, ssl=self.ssl_context, autoping=True,
                compress=self.compress, max_msg_size=0), timeout)
            opening = await asyncio.wait_for(self.ws.receive(), timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise WireError(f"cannot open {self.url}: {error!r}") from None
        self.deflate = bool(self.ws.compress)  # permessage-deflate negotiated
        if opening.type != aiohttp.WSMsgType.TEXT or not opening.data.startswith("0"):
            raise WireError(f"no Engine.IO open packet: {opening.data!r}")

    async def _read(self):
        ws = self.ws
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                self._packet(frame.data)
        except (aiohttp.ClientError, OSError, asyncio.CancelledError) as error:
            self.close_reason = self.close_reason or repr(error)
        finally:
            self._ended("closed by the server")

    async def _write(self, text):
        await self.ws.send_str(text)

    async def _shut(self):
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
                pass


def http_session(limit=0):
    """One aiohttp session for many sockets: no cookie jar (each socket sends its own)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit),
                                 cookie_jar=aiohttp.DummyCookieJar())
