"""Engine.IO 4 long-polling for bench/wire.py's Socket.IO layer: the fallback transport.

Browsers fall back to long-polling when WebSockets are blocked; this measures what that
costs. The session opens with a GET (the `0` open packet names the sid), then one GET is
always pending for what the server has to say, and packets to send are POSTed. Several
packets travel in one body, separated by the record separator (0x1E); while a POST is in
flight new packets wait and leave together in the next one, as the JS client does. Every
request carries the session cookie.
"""
import asyncio
import json

import aiohttp

from .wire import SocketIO, WireError

SEPARATOR = "\x1e"
POLL_MARGIN = 10.0  # seconds a GET may wait beyond the server's ping interval + timeout


class PollingSocket(SocketIO):
    """One logged-in Socket.IO connection over Engine.IO long-polling."""

    transport = "polling"

    def __init__(self, http, base_url, ssl_context, cookie=None, query=None, on_message=None,
                 compress=0):
        super().__init__(http, base_url, ssl_context, cookie, query, on_message)
        self.session_url = None
        self.poll_timeout = None
        self._outgoing = []  # packets waiting for the next POST
        self._flusher = None

    async def _open(self, timeout):
        try:
            async with self.http.get(self.url, headers=self.headers, ssl=self.ssl_context,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
                body = await answer.text()
                status = answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise WireError(f"cannot open {self.url}: {error!r}") from None
        packets = body.split(SEPARATOR)
        if status != 200 or not packets[0].startswith("0"):
            raise WireError(f"no Engine.IO open packet ({status}): {body[:200]!r}")
        handshake = json.loads(packets[0][1:])
        self.session_url = f"{self.url}&sid={handshake['sid']}"
        wait_ms = handshake.get("pingInterval", 25_000) + handshake.get("pingTimeout", 20_000)
        self.poll_timeout = aiohttp.ClientTimeout(total=wait_ms / 1000 + POLL_MARGIN)
        for packet in packets[1:]:
            self._packet(packet)

    async def _read(self):
        reason = "closed by the server"
        try:
            while not self.closed:
                async with self.http.get(self.session_url, headers=self.headers,
                                         ssl=self.ssl_context,
                                         timeout=self.poll_timeout) as answer:
                    body = await answer.text()
                    if answer.status != 200:
                        reason = f"poll answered {answer.status}: {body[:200]}"
                        break
                for packet in body.split(SEPARATOR):
                    if packet[:1] == "1":  # Engine.IO close
                        return
                    self._packet(packet)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError,
                asyncio.CancelledError) as error:
            reason = repr(error)
        finally:
            self._ended(reason)

    async def _write(self, text):
        """Queue one packet for the next POST (starting it when none is in flight)."""
        if self.closed:
            raise WireError(f"socket closed: {self.close_reason}")
        self._outgoing.append(text)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())

    async def _flush(self):
        """POST what is queued, then what was queued meanwhile, until nothing is left."""
        while self._outgoing and not self.closed:
            body, self._outgoing = SEPARATOR.join(self._outgoing), []
            try:
                async with self.http.post(self.session_url, data=body.encode(),
                                          headers={**(self.headers or {}),
                                                   "Content-Type": "text/plain;charset=UTF-8"},
                                          ssl=self.ssl_context,
                                          timeout=self.poll_timeout) as answer:
                    text = await answer.text()
                    if answer.status != 200:
                        self._ended(f"post answered {answer.status}: {text[:200]}")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                self._ended(repr(error))

    async def _shut(self):
        """Say goodbye (Engine.IO close, bounded) so the server drops the session now."""
        if self.session_url is None or self.closed:
            return
        self._outgoing = []
        if self._flusher is not None:
            await asyncio.wait([self._flusher], timeout=5)
        try:
            async with self.http.post(self.session_url, data=b"1", headers=self.headers,
                                      ssl=self.ssl_context,
                                      timeout=aiohttp.ClientTimeout(total=5)) as answer:
                await answer.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass
