"""The group scenario (issue 9): a group's members all online, a few of them sending.

A group message costs the server one message row, one wrap row per member and one
`message` emit per member (PROTOCOL §9.5: each member's `user:<id>` room gets only its
own entry, the sender's sockets included). Every member has one WebSocket open; the
first `senders` members each keep `window` messages in flight (scenarios.closed_loop,
`retry` nacks resent at once as in the 1:1 throughput). Reported beside the 1:1 figures:
messages acked per second, deliveries per second, server CPU per message, send → ack and
send → receive over every member's receipt, and integrity: every acked cid stored once
with one wrap per member, and received exactly once by every member. SendApp only: the
bare relays have no groups.
"""
import asyncio
from collections import Counter

import sqlalchemy

from . import wire
from .scenarios import (
    Flow, Meter, closed_loop, cpu_per_message, latency_summary, now, open_many, sqlalchemy_url,
    verify_stored,
)


class GroupFlow(Flow):
    """A Flow whose messages each reach every member: receipts are counted per
    (cid, member), send → receive latencies over every receipt."""

    def __init__(self, member_ids):
        super().__init__()
        self.member_ids = list(member_ids)
        self.receipts = Counter()  # (cid, member) → `message` events that member got
        self.received_at = {}  # (cid, member) → its first receipt
        self.reached = Counter()  # cid → members that got it at least once

    def receiver(self, member_id):
        """The `on_message` callback of `member_id`'s socket."""
        def on_message(cid, at, _packet):
            key = (cid, member_id)
            self.receipts[key] += 1
            if key not in self.received_at:
                self.received_at[key] = at
                self.reached[cid] += 1
        return on_message

    def unreached(self):
        """Acked messages some member has not received yet."""
        size = len(self.member_ids)
        return sum(1 for cid in self.acks if self.reached[cid] < size)

    async def drain(self, timeout):
        """Wait (bounded) for every ack or nack; then, briefly, for every member's receipt."""
        deadline = now() + timeout
        while self.outstanding() > 0 and now() < deadline:
            await asyncio.sleep(0.01)
        deliver_by = now() + min(5.0, max(deadline - now(), 1.0))
        while self.unreached() and now() < deliver_by:
            await asyncio.sleep(0.02)

    def report(self, window=None):
        """Flow's counts with deliveries per member: `delivered` counts the acked messages
        every member received exactly once, `receive` every receipt's latency."""
        result = super().report(window)
        size = len(self.member_ids)
        acked = set(self.acks)
        complete = sum(1 for cid in acked if self.reached[cid] == size
                       and all(self.receipts[(cid, m)] == 1 for m in self.member_ids))
        doubled = {cid for (cid, _m), count in self.receipts.items() if count > 1}
        last = {}  # cid → when its last member got it
        for (cid, _m), at in self.received_at.items():
            last[cid] = max(at, last.get(cid, at))
        result.update({
            "members": size,
            "delivered": complete,
            "delivered_twice_or_more": len(doubled),
            "receipts": len(self.received_at),
            "receipts_expected": size * len(acked),
            "receipts_missing": sum(size - min(self.reached[cid], size) for cid in acked),
            "receipts_doubled": sum(count - 1 for count in self.receipts.values() if count > 1),
            "received_not_acked": sum(1 for cid in self.reached if cid not in acked),
            "received_once_by_all": complete == len(acked) and not doubled,
            "receive": latency_summary([at - self.due[cid]
                                        for (cid, _m), at in self.received_at.items()
                                        if cid in self.due]),
            "receive_last": latency_summary([at - self.due[cid] for cid, at in last.items()
                                             if cid in self.due and self.reached[cid] == size]),
        })
        if window is not None:
            start, end = window
            inside = sum(1 for at in self.received_at.values() if start <= at <= end)
            result["deliveries_in_window"] = inside
            result["deliveries_per_s"] = round(inside / (end - start), 1) if end > start \
                else None
            # The same latencies without the warm-up, whose first batch meets a cold server.
            sent_inside = {cid for cid, due in self.due.items() if start <= due <= end}
            result["after_warmup"] = {
                "ack": latency_summary([at - self.due[cid] for cid, (_id, at)
                                        in self.acks.items() if cid in sent_inside]),
                "receive": latency_summary([at - self.due[cid] for (cid, _m), at
                                            in self.received_at.items() if cid in sent_inside]),
            }
        return result


def verify_group_stored(database_url, flow, member_ids, chunk=500):
    """verify_stored's checks, and each acked message's wraps (message_keys): exactly one per
    member, for no one else (§9.4, §9.5)."""
    stored = verify_stored(database_url, flow)
    if stored is None:
        return None
    from sendapp.models import Message, MessageKey

    messages, keys = Message.__table__, MessageKey.__table__
    acked_ids = [message_id for message_id, _at in flow.acks.values()]
    wraps = {}  # message id → the user ids it has wraps for
    groups = {}  # message id → group id
    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            for start in range(0, len(acked_ids), chunk):
                ids = acked_ids[start:start + chunk]
                query = sqlalchemy.select(keys.c.message_id, keys.c.user_id).where(
                    keys.c.message_id.in_(ids))
                for message_id, user_id in connection.execute(query):
                    wraps.setdefault(message_id, []).append(user_id)
                query = sqlalchemy.select(messages.c.id, messages.c.group_id).where(
                    messages.c.id.in_(ids))
                groups.update(connection.execute(query).all())
    finally:
        engine.dispose()
    members = sorted(member_ids)
    wrong_wraps = sum(1 for message_id in acked_ids
                      if sorted(wraps.get(message_id, [])) != members)
    not_group = sum(1 for message_id in acked_ids if groups.get(message_id) is None)
    stored.update(wraps=sum(len(users) for users in wraps.values()),
                  wraps_per_message=len(members), wrong_wraps=wrong_wraps,
                  not_group_messages=not_group,
                  ok=stored["ok"] and wrong_wraps == 0 and not_group == 0)
    return stored


async def group_throughput(target, group, pools, window=8, warmup=1.0, duration=5.0,
                           drain_timeout=30.0, open_timeout=60.0):
    """Every member of `group` online on its own socket; the members owning `pools` (the
    first len(pools)) each keep `window` messages in flight (scenarios.closed_loop)."""
    flow = GroupFlow([m.id for m in group.members])
    sockets = [target.new_socket(m, on_message=flow.receiver(m.id)) for m in group.members]
    opened, failures = await open_many(sockets, timeout=open_timeout)
    try:
        if failures:
            raise wire.WireError(f"{len(failures)} of {len(sockets)} member sockets did not "
                                 f"open: {failures[0]}")
        meter = Meter(target.process.pid, target.database_pids)
        senders = [(sockets[i], group.members[i].id, pool) for i, pool in enumerate(pools)]
        exhausted = await closed_loop(flow, meter, senders, window, warmup, duration,
                                      drain_timeout)
    finally:
        await asyncio.gather(*(s.close() for s in opened))
    result = {"members": group.size, "senders": len(pools), "window": window,
              **flow.report(meter.window), **meter.result, "pools_exhausted": exhausted,
              "retry_resent": flow.retried,
              "send_bytes": len(pools[0][0].wire) if pools and pools[0] else None}
    result.update(cpu_per_message(meter.result, result.get("acked_in_window")))
    if result.get("deliveries_in_window"):
        result["server_cpu_us_per_delivery"] = round(
            1e6 * meter.result["server_cpu_s"] / result["deliveries_in_window"], 1)
    result["stored"] = verify_group_stored(target.database_url, flow, flow.member_ids)
    return result
