"""The on-demand WebSocket writer (sendapp/websocket_writer.py) keeps engineio's contract.

A real engineio Socket in threading mode, driven through a WebSocket double whose `wait`
gives what the client "sent" and whose `send` records what the server wrote. The live
tests run every WebSocket of the real server (eventlet, TLS) through the same handler.
"""
import queue
import threading
import time

import engineio
import pytest
from engineio import packet
from engineio.socket import Socket

from sendapp import websocket_writer

WAIT = 5.0  # seconds any step may take


class FakeWebSocket:
    def __init__(self, fail_sends=False, close_ends_wait=True):
        self.incoming = queue.Queue()
        self.sent = []
        self.closed = threading.Event()
        self.fail_sends = fail_sends
        self.close_ends_wait = close_ends_wait

    def wait(self):
        return self.incoming.get(timeout=WAIT)

    def send(self, data):
        if self.fail_sends:
            raise BrokenPipeError("the client left")
        self.sent.append(data)

    def close(self):
        self.closed.set()
        if self.close_ends_wait:
            self.incoming.put(None)  # a closed WebSocket's wait() ends


def until(condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def assert_ended(thread):
    thread.join(WAIT)
    assert not thread.is_alive(), "the WebSocket handler ended"


@pytest.fixture
def server():
    websocket_writer.install()
    eio = engineio.Server(async_mode="threading")
    disconnects = []
    eio.on("disconnect", lambda sid, reason: disconnects.append((sid, reason)))
    eio.disconnects = disconnects
    return eio


def serve(server, ws, upgrade=False):
    sock = Socket(server, "sid1")
    server.sockets["sid1"] = sock
    sock.connected = upgrade
    thread = threading.Thread(target=sock._websocket_handler, args=(ws,), daemon=True)
    thread.start()
    if not upgrade:
        until(lambda: getattr(sock, "_ws_writer", None) is not None, "the handler started")
    return sock, thread


def message(n):
    return packet.Packet(packet.MESSAGE, data=f"m{n}")


def test_frames_leave_in_order_and_no_writer_stays_while_idle(server):
    ws = FakeWebSocket()
    sock, _thread = serve(server, ws)
    senders = [threading.Thread(target=lambda k=k: [sock.send(message(k * 100 + i))
                                                    for i in range(50)]) for k in range(3)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(WAIT)
    until(lambda: len(ws.sent) == 150, "every frame was written")
    for k in range(3):  # each sender's frames in the order it sent them
        own = [f for f in ws.sent if int(f[len("4m"):]) // 100 == k]
        assert own == [message(k * 100 + i).encode() for i in range(50)]
    writer = sock._ws_writer
    until(lambda: not writer.running, "the writer ended once the queue was empty")
    writer.task.join(WAIT)
    assert not writer.task.is_alive()
    sock.send(message(999))  # an idle socket gets a writer again
    until(lambda: ws.sent[-1] == message(999).encode(), "a later frame was written")


def test_a_server_close_writes_close_and_ends_the_websocket(server):
    ws = FakeWebSocket()
    sock, thread = serve(server, ws)
    sock.close(wait=True, reason=server.reason.SERVER_DISCONNECT)  # returns once written
    assert ws.sent[-1] == packet.Packet(packet.CLOSE).encode()
    assert ws.closed.wait(WAIT)
    assert_ended(thread)
    assert server.disconnects == [("sid1", server.reason.SERVER_DISCONNECT)]


def test_the_client_leaving_closes_the_session_once(server):
    ws = FakeWebSocket()
    sock, thread = serve(server, ws)
    ws.incoming.put(None)
    assert_ended(thread)
    assert sock.closed and ws.closed.is_set()
    assert server.disconnects == [("sid1", server.reason.TRANSPORT_CLOSE)]


def test_a_websocket_the_client_closed_is_not_closed_again(server):
    """eventlet closes its WebSocket itself on the client's close frame; closing it again
    logged a "socket shutdown error" line per socket (10,000 when 10,000 left)."""
    ws = FakeWebSocket()
    sock, thread = serve(server, ws)
    ws.websocket_closed = True  # what eventlet's close() sets, before closing the socket
    ws.incoming.put(None)
    assert_ended(thread)
    assert sock.closed and not ws.closed.is_set()
    assert server.disconnects == [("sid1", server.reason.TRANSPORT_CLOSE)]


def test_a_broken_websocket_ends_writing_and_the_session(server):
    ws = FakeWebSocket(fail_sends=True)
    sock, thread = serve(server, ws)
    sock.send(message(1))
    assert ws.closed.wait(WAIT)
    assert_ended(thread)
    writer = sock._ws_writer
    assert writer.finished and not writer.running
    writer.kick()  # nothing more is written to a broken WebSocket
    assert not writer.running
    assert server.disconnects == [("sid1", server.reason.TRANSPORT_CLOSE)]


def test_closing_and_waiting_does_not_hang_on_a_broken_writer(server):
    """engineio's close(wait=True) joins the queue; frames a broken writer left are never
    written, so the wait ends at once instead of never."""
    ws = FakeWebSocket(fail_sends=True, close_ends_wait=False)
    sock, thread = serve(server, ws)
    sock.send(message(1))
    assert ws.closed.wait(WAIT)
    assert not sock.closed  # the reader has not noticed yet
    closer = threading.Thread(target=sock.close, kwargs={"wait": True}, daemon=True)
    closer.start()
    closer.join(1.0)
    assert not closer.is_alive(), "close(wait=True) returned"
    assert sock.closed
    ws.incoming.put(None)
    assert_ended(thread)


def test_an_upgrade_from_polling_answers_the_probe_then_sends_what_waited(server):
    ws = FakeWebSocket()
    sock, thread = serve(server, ws, upgrade=True)
    sock.send(message(1))  # queued while still polling
    ws.incoming.put(packet.Packet(packet.PING, data="probe").encode())
    ws.incoming.put(packet.Packet(packet.UPGRADE).encode())
    until(lambda: len(ws.sent) == 3, "probe answered, then the queue written")
    assert ws.sent[0] == packet.Packet(packet.PONG, data="probe").encode()
    assert ws.sent[1:] == [message(1).encode(), packet.Packet(packet.NOOP).encode()]
    assert sock.upgraded and not sock.upgrading
    ws.incoming.put(None)
    assert_ended(thread)


def test_an_upgrade_without_the_probe_is_refused(server):
    ws = FakeWebSocket()
    sock, thread = serve(server, ws, upgrade=True)
    ws.incoming.put(packet.Packet(packet.MESSAGE, data="not a probe").encode())
    assert_ended(thread)
    assert ws.sent == [] and not sock.upgraded and not sock.upgrading


def test_a_frame_over_the_size_bound_ends_the_connection(server):
    ws = FakeWebSocket()
    sock, thread = serve(server, ws)
    ws.incoming.put("4" + "x" * (server.max_http_buffer_size + 1))
    assert_ended(thread)
    assert sock.closed
    assert server.disconnects == [("sid1", server.reason.TRANSPORT_CLOSE)]


def test_an_undecodable_frame_raises_to_the_edge_guard(server):
    """As in engineio's handler: sendapp.edge drops the connection with one log line."""
    ws = FakeWebSocket()
    sock = Socket(server, "sid1")
    server.sockets["sid1"] = sock
    ws.incoming.put("x-not-a-packet")
    with pytest.raises(ValueError):
        sock._websocket_handler(ws)


class WriteNow:
    """An async mode's `write_now` double: records each call's frames and the thread that
    wrote them; `later` calls answer a function (run by the writer task) instead."""

    def __init__(self, later=0, fail=False):
        self.later = later
        self.fail = fail
        self.written = []  # (thread id, frames)
        self.release = threading.Event()

    def __call__(self, ws, frames):
        if self.fail:
            raise BrokenPipeError("the client left")
        if self.later:
            self.later -= 1

            def rest():
                assert self.release.wait(WAIT)
                self.written.append((threading.get_ident(), list(frames)))
            return rest
        self.written.append((threading.get_ident(), list(frames)))
        return None

    def frames(self):
        return [frame for _thread, batch in self.written for frame in batch]


def test_frames_the_socket_takes_at_once_are_written_by_the_sender_without_a_task(server):
    write_now = WriteNow()
    websocket_writer.install(write_now)
    sock, _thread = serve(server, FakeWebSocket())
    for i in range(5):
        sock.send(message(i))
    assert write_now.frames() == [message(i).encode() for i in range(5)]
    assert {thread for thread, _frames in write_now.written} == {threading.get_ident()}
    assert sock._ws_writer.task is None and not sock._ws_writer.running


def test_what_the_socket_cannot_take_at_once_is_finished_by_a_task_in_order(server):
    write_now = WriteNow(later=1)
    websocket_writer.install(write_now)
    sock, _thread = serve(server, FakeWebSocket())
    sock.send(message(1))  # not taken at once: a task finishes it
    writer = sock._ws_writer
    assert writer.running and writer.task is not None
    sock.send(message(2))  # queued behind the unfinished frame
    sock.send(message(3))
    assert write_now.written == []
    write_now.release.set()
    until(lambda: not writer.running, "the task finished and ended")
    assert write_now.frames() == [message(i).encode() for i in (1, 2, 3)]
    assert threading.get_ident() not in {thread for thread, _frames in write_now.written}


def test_a_socket_that_breaks_while_written_at_once_is_closed_by_a_task(server):
    websocket_writer.install(WriteNow(fail=True))
    ws = FakeWebSocket()
    sock, thread = serve(server, ws)
    sock.send(message(1))  # the sender is not the one to fail
    assert ws.closed.wait(WAIT)
    assert_ended(thread)
    assert sock._ws_writer.finished
    assert server.disconnects == [("sid1", server.reason.TRANSPORT_CLOSE)]
