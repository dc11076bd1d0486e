"""The outbox: every envelope is persisted, then sent, and resent until the server answers (§8).

It sends envelopes as they are, keyed by `cid`, and never looks at who they are
for, so a pair envelope (`to`) and a group envelope (`g`, §9.5) take the same
path; the conversation modules only build envelopes and call `queue_envelope`.
A conversation module may register a *replacer* for one refusal code (groups
do for `stale_members`, §9.5): it builds a new envelope with the same `cid`,
which takes the old one's place in the outbox and is sent instead.
"""
import asyncio
from collections import OrderedDict

from .errors import RealtimeError, SendFailure

KEPT_RESULTS = 10_000  # acks remembered for a late wait_acked(cid)
TRANSIENT_ERRORS = frozenset({"retry", "rate_limited"})
MAX_RETRY_AFTER = 60.0  # seconds: a server's longer `retry_after` is not believed
MAX_REPLACEMENTS = 5  # re-seals of one cid before its refusal counts as final


def retry_delay(attempt, retry_after=None):
    """Seconds before resending a refused envelope: the server's word (bounded), else a
    backoff from 1 s doubling to 10 s."""
    if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool) \
            and 0 < retry_after <= MAX_RETRY_AFTER:
        return float(retry_after)
    return min(0.5 * 2 ** attempt, 10.0)


class OutboxMixin:
    """Send queued envelopes in order, settle each from its ack, resend after a reconnect.

    Uses from the client: `state`, `ready`, `transport`, `_call`, `_epoch`, `_in_flight` and
    `_spawn` (connection.py).
    """

    def _init_outbox(self):
        self._attempted = {}  # cid → epoch of its last emit
        self._waiters = {}  # cid → future resolved by its ack
        self._results = OrderedDict()  # cid → ack or SendFailure, the most recent ones
        self._replacers = {}  # refusal code → async (envelope, error) → envelope or None
        self._replaced = {}  # cid → how often it was replaced

    def on_refusal(self, code, replacer):
        """Let `replacer(envelope, error)` answer the refusal `code` with a new envelope.

        The replacement must keep the `cid` (so the server can still tell a retry
        from a new message); returning None makes the refusal final.
        """
        self._replacers[code] = replacer

    @property
    def pending(self):
        """Envelopes waiting for an ack."""
        return self.state.pending

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
            if self.transport == "polling":
                async with self._in_flight:
                    ack = await self._call("send", envelope)
            else:
                ack = await self._call("send", envelope)
        except RealtimeError as error:
            if error.code in ("disconnected", "timeout"):
                return  # stays queued: the next connect resends it
            if error.code in TRANSIENT_ERRORS:
                self._spawn(self._retry(envelope, attempt + 1,
                                        error.details.get("retry_after")))
                return
            if error.code == "unauthorized":
                return  # stays queued for a later, logged-in run
            replacement = await self._replacement(envelope, error)
            if replacement is not None:
                self.state.add(replacement)  # same cid: takes the old entry's place
                await self._send_one(replacement, attempt)
                return
            self.state.remove(cid)
            self._settle(cid, error=SendFailure(error.message, code=error.code))
            return
        self.state.remove(cid)
        self._settle(cid, ack=ack)

    async def _replacement(self, envelope, error):
        """The envelope a registered replacer builds for this refusal, or None (final)."""
        replacer = self._replacers.get(error.code)
        cid = envelope["cid"]
        if replacer is None or self._replaced.get(cid, 0) >= MAX_REPLACEMENTS:
            return None
        self._replaced[cid] = self._replaced.get(cid, 0) + 1
        try:
            replacement = await replacer(envelope, error)
        except Exception as exc:  # e.g. the group cannot be fetched: the refusal stands
            error.message = f"{error.message} (and it could not be sealed again: {exc})"
            return None
        if replacement is not None and replacement.get("cid") != cid:
            raise ValueError("a replacement envelope must keep its cid")
        return replacement

    async def _retry(self, envelope, attempt, retry_after=None):
        """Send again after the server's `retry_after` when it gave one (sendapp/load.py
        draws it from its load), else after an exponential backoff."""
        await asyncio.sleep(retry_delay(attempt, retry_after))
        if envelope["cid"] in self.state and self.ready:
            await self._send_one(envelope, attempt)

    def _settle(self, cid, ack=None, error=None):
        """Record the outcome of a cid and wake whoever waits for it."""
        self._attempted.pop(cid, None)
        self._replaced.pop(cid, None)
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
