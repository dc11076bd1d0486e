"""A client outbox for the overload scenario: a `retry` nack is resent, same cid, after a pause.

The server answers `retry` when it could not store a message (PROTOCOL: nothing was
stored); a browser's outbox keeps the message and sends it again with the same cid, so
the server may store it once. Under overload this tells whether retried messages end up
stored exactly once: none lost, none doubled.
"""
import asyncio
import time
from collections import Counter

from . import wire
from .scenarios import latency_summary, retry_after

RETRYABLE = "retry"


class Outbox:
    """Resends of one open-loop run, bounded: at most `max_resends` per cid, each after the
    ack's `retry_after` when it has one (as both clients do), else `pause` s (3 s, a
    browser outbox's default; a shorter pause only adds load to the overload).

    :param flow: the run's scenarios.Flow; only final answers are recorded in it (an
        acked resend is one ack, its latency counted from when the message first was due).
    """

    def __init__(self, flow, pause=3.0, max_resends=15):
        self.flow = flow
        self.attempts = []  # seconds from the accepted attempt's send to its ack
        self.pause = pause
        self.max_resends = max_resends
        self.resends = Counter()  # cid → times resent
        self.retry_nacks = 0  # every `retry` nack, the resent messages' included
        self.tasks = set()

    def ack_handler(self, sock, envelope):
        """The ack callback of one send of `envelope` on `sock` (sent now)."""
        sent = time.perf_counter()

        def handle(answer, at):
            code = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(answer, dict) and answer.get("ok"):
                self.attempts.append(at - sent)
            if code == RETRYABLE:
                self.retry_nacks += 1
                if self.resends[envelope.cid] < self.max_resends:
                    self.resends[envelope.cid] += 1
                    pause = retry_after(answer) or self.pause
                    task = asyncio.ensure_future(self._resend(sock, envelope, pause))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                    return
            self.flow.answer(envelope.cid, answer, at)

        return handle

    async def _resend(self, sock, envelope, pause):
        await asyncio.sleep(pause)
        try:
            await sock.emit("send", envelope.wire, self.ack_handler(sock, envelope))
        except (wire.WireError, ConnectionError, OSError):
            self.flow.answer(envelope.cid, {"ok": False, "error": "socket_closed"},
                             time.perf_counter())

    async def report(self, stored):
        """Resend counts; with `stored` (verify_stored), every cid stored once: lost, doubled."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        out = {"retry_nacks": self.retry_nacks, "resent": sum(self.resends.values()),
               "resent_cids": len(self.resends),
               "gave_up": sum(1 for code, _at in self.flow.nacks.values() if code == RETRYABLE),
               "attempt": latency_summary(self.attempts)}
        if stored is not None:
            out.update(lost=stored["not_stored"], doubled=stored["duplicated"])
        return out
