"""Relaying a stored message to the sockets that should see it live (PROTOCOL §8, §9.5).

One place for both paths: the message writer relays each new message after its commit, in
id order (chat/writer.py says why that order matters across processes), and `send`
relays a retried cid's stored message again, since the process that stored it may have
died before relaying it. Receivers de-duplicate by id (§8).
"""
from .. import notify
from . import envelope as envelopes


def relay(sender_id, env, message):
    """A 1:1 message to the pair room; a group message to each member named in `keys`
    (`user:<m>`, the sender's sockets included) with that member's entry only (§9.5)."""
    if isinstance(env, envelopes.GroupEnvelope):
        for entry in env.keys:
            notify.to_user(entry.to, "message", envelopes.as_delivered(message, entry))
    else:
        notify.to_pair(sender_id, env.to, "message", envelopes.as_wire(message))


def relay_stored(sender_id, env, stored_id, ts):
    """The writer's relay: the message as stored under `stored_id` at `ts`."""
    relay(sender_id, env, envelopes.stored(env, sender_id, stored_id, ts))
