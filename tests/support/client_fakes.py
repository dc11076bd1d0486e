"""What the Python client's unit tests share: a bounded runner, a Socket.IO stand-in, and
reading what a client queued for its user."""
import asyncio


def run(coroutine, timeout=10):
    """Run one coroutine to completion with a bound, from a plain (sync) test."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


class FakeSio:
    """Just what RealtimeClient reads of a connected python-socketio client."""

    namespaces = {"/": "sid"}

    def transport(self):
        return "websocket"


def drain(client):
    """Everything the client has queued for its user so far."""
    items = []
    while not client._queue.empty():
        items.append(client._queue.get_nowait())
    return items
