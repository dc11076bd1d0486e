"""One task per WebSocket, not two: a writer runs only while a socket has frames to send.

python-engineio (4.x) serves a WebSocket with two tasks for its whole life: the reader
(the server's connection task) and a writer that waits on the socket's queue. Under
eventlet each is a greenthread with its own saved C stack, Python frame chunk and waiters:
about 6 KB of an idle socket's memory, and objects every full garbage collection walks,
for a task that does nothing until something is sent (docs/BENCHMARKS.md, "One task per
idle WebSocket"). Here the reader is the same, and a writer is started when a frame is
queued on a socket whose writer is not running and ends when the queue is empty: an idle
socket costs one task.

What is kept from python-engineio's handler, step for step: the upgrade handshake (probe
PING/PONG, NOOP to end the poll, UPGRADE), the frame size bound, the socket timeout of a
ping interval plus a ping timeout, frames sent in queue order, `None` in the queue closing
the WebSocket, and the session closed with `transport close` when the reader ends.

Senders queue, as before, and never wait for a socket (a slow client must not stall the
message writer's relays). When the async mode gives a `write_now` (app.py's, for eventlet),
the sender that finds no writer running writes what is queued itself, as far as the socket
takes it without waiting, and a task finishes the rest: a socket whose client keeps up
never needs a task of its own (docs/BENCHMARKS.md, "Frames written by their sender").
At most one writer per socket writes at a time, so frames leave in queue order.

`install()` replaces `engineio.socket.Socket`'s WebSocket handler, `send` and `close`; it
uses only the async mode's `start_background_task`, `threading.Lock` (green under
eventlet) and the `write_now` it is given, so it is the same in every async mode.
"""
import threading
import time

from engineio import exceptions, packet
from engineio.socket import Socket

WRITTEN_POLL = 0.01  # seconds between checks while a closing socket's frames are written


class _Writer:
    """The on-demand writer of one upgraded socket."""

    def __init__(self, sock, ws, write_now=None):
        self.sock = sock
        self.ws = ws
        self.write_now = write_now  # the async mode's (see `install`), or None
        self.lock = threading.Lock()
        self.task = None
        self.running = False
        self.finished = False  # the WebSocket was closed: later frames are dropped

    def kick(self):
        """Write what is queued unless a writer already is (it will see what was just
        queued): at once in the caller's task as far as the socket takes it without
        waiting, the rest (and a close) in a task of the socket's own."""
        with self.lock:
            if self.running or self.finished:
                return
            self.running = True
        rest, closing = None, False
        if self.write_now is not None:
            try:
                while rest is None and not closing:
                    frames, closing = self._take()
                    if not frames and not closing:
                        return  # all written; `_take` ended this writer's turn
                    rest = self.write_now(self.ws, frames) if frames else None
            except Exception:  # noqa: BLE001 - a broken socket: its task closes it
                rest, closing = None, True
        self.task = self.sock.server.start_background_task(self._drain, rest, closing)

    def _take(self):
        """Every frame queued, encoded, and whether the close mark (None) came after them.
        With nothing queued, this writer's turn ends (under the lock: a kick after this
        starts another)."""
        queue, empty = self.sock.queue, self.sock.server.get_queue_empty_exception()
        frames = []
        with self.lock:
            while True:
                try:
                    pkt = queue.get(block=False)
                except empty:
                    if not frames:
                        self.running = False
                    return frames, False
                queue.task_done()
                if pkt is None:
                    return frames, True
                frames.append(pkt.encode())

    def _drain(self, rest=None, closing=False):
        """The socket's writer task: finish what the kick could not write at once, then
        write what comes, waiting for the socket as long as it needs, until nothing is
        queued or the socket closes."""
        try:
            if rest is not None:
                rest()
            while not closing:
                frames, closing = self._take()
                if not frames and not closing:
                    return
                self._write(frames)
        except Exception:  # noqa: BLE001 - a broken socket ends writing, as engineio's does
            pass
        self._close()

    def _write(self, frames):
        """Write `frames`, waiting for the socket as long as it needs."""
        if not frames:  # only the close mark was queued
            return
        if self.write_now is None:
            for frame in frames:
                self.ws.send(frame)
            return
        rest = self.write_now(self.ws, frames)
        if rest is not None:
            rest()

    def _close(self):
        with self.lock:
            self.finished = True
            self.running = False
        # eventlet closes the WebSocket itself on the client's close frame; closing it again
        # fails on the closed socket and logs a "socket shutdown error" line.
        if not getattr(self.ws, "websocket_closed", False):
            self.ws.close()

    def wait_written(self, seconds):
        """What engineio's close(wait=True) waits for (its queue joined), bounded: a writer
        that broke leaves frames that nobody will write."""
        deadline = time.monotonic() + seconds
        while (self.sock.queue.unfinished_tasks and not self.finished
               and time.monotonic() < deadline):
            self.sock.server.sleep(WRITTEN_POLL)

    def join(self):
        task = self.task
        if task is not None:
            task.join()


def _websocket_handler(self, ws):
    """Engine.IO's WebSocket transport with an on-demand writer (module docstring)."""
    def websocket_wait():
        data = ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    for attr in ("_sock", "socket"):
        if hasattr(ws, attr) and hasattr(getattr(ws, attr), "settimeout"):
            getattr(ws, attr).settimeout(self.server.ping_interval + self.server.ping_timeout)

    if self.connected:  # an upgrade from long-polling
        self.upgrading = True
        pkt = packet.Packet(encoded_packet=websocket_wait())
        if pkt.packet_type != packet.PING or pkt.data != "probe":
            self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
            self.upgrading = False
            return []
        ws.send(packet.Packet(packet.PONG, data="probe").encode())
        self.queue.put(packet.Packet(packet.NOOP))  # ends the pending poll
        pkt = packet.Packet(encoded_packet=websocket_wait())
        if pkt.packet_type != packet.UPGRADE:
            self.upgraded = False
            self.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet",
                                    self.sid)
            self.upgrading = False
            return []
        self.upgraded = True
        self.upgrading = False
    else:
        self.connected = True
        self.upgraded = True

    writer = self._ws_writer = _Writer(self, ws, _write_now)
    writer.kick()  # what was queued before the upgrade ended
    self.server.logger.info("%s: Upgrade to websocket successful", self.sid)
    while True:
        try:
            data = websocket_wait()
        except Exception as error:  # noqa: BLE001 - the transport's end, whatever it was
            if not self.closed:
                self.server.logger.info('%s: Unexpected error "%s", closing connection',
                                        self.sid, str(error))
            break
        if data is None:  # closed by the client
            break
        pkt = packet.Packet(encoded_packet=data)  # a bad frame raises to sendapp.edge's guard
        try:
            self.receive(pkt)
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            self.server.logger.info("Receive error -- socket is closed")
            break
        except Exception:  # noqa: BLE001 - logged, and the connection closed properly
            self.server.logger.exception("Unknown receive error")
            break
    self.queue.put(None)
    writer.kick()
    writer.join()
    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
    return []


_write_now = None


def install(write_now=None):
    """Serve Engine.IO WebSockets with one task each while idle (module docstring).

    :param write_now: the async mode's `write_now(ws, frames)`: writes the frames (as
        `Packet.encode` gives them) without waiting if the socket takes them at once
        (answers None), else answers a function that writes what is left, waiting, for
        the socket's writer task. None: the writer task writes every frame with `ws.send`.
    """
    global _write_now
    _write_now = write_now
    if getattr(Socket, "_sendapp_on_demand_writer", False):
        return
    original_send, original_close = Socket.send, Socket.close

    def send(self, pkt):
        original_send(self, pkt)
        writer = getattr(self, "_ws_writer", None)
        if writer is not None:
            writer.kick()

    def close(self, wait=True, abort=False, reason=None):
        writer = getattr(self, "_ws_writer", None)
        if writer is None:
            original_close(self, wait=wait, abort=abort, reason=reason)
            return
        original_close(self, wait=False, abort=abort, reason=reason)
        writer.kick()
        if wait:
            writer.wait_written(self.server.ping_timeout)

    Socket._websocket_handler = _websocket_handler
    Socket.send = send
    Socket.close = close
    Socket._sendapp_on_demand_writer = True
