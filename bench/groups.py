"""A benchmark group: real members, a real group, real PROTOCOL §9.4 envelopes (issue 9).

The members are registered through the API as the pairs are (`people.register`, a few
at a time), the creator befriends every other member by request and accept (§9.1: an
admin adds only accepted friends with a key) and creates the group with
`POST /api/groups` (§9.2) through the client's generic `request`. Envelopes are sealed
with `sendapp.group_crypto` before the timed part, one message key per message wrapped
for every member, the sender included, each with its own cid, around the same 448-byte
padded text body as the pairs' (`people.text_body`).
"""
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sendapp.group_crypto import Recipient, group_pair_key, seal_group_message

from .people import REGISTER_CONCURRENCY, Envelope, befriend, register, text_body

_JSON = {"separators": (",", ":")}


@dataclass
class Group:
    """A group as the generator sees it: its id and its members (the creator first)."""

    id: int
    members: list  # people.Person, creator first

    @property
    def size(self):
        return len(self.members)


def sendapp_group(url, ca, size, prefix, concurrency=REGISTER_CONCURRENCY):
    """Register `size` users, befriend the first with every other, create their group.

    Returns (Group, seconds). The API sessions are closed at the end (the sockets
    authenticate with the cookies registration set, as the pairs' do)."""
    if size < 1:
        raise ValueError("a group has at least its creator")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, size))) as pool:
        registered = list(pool.map(lambda index: register(url, ca, f"{prefix}m{index}"),
                                   range(size)))
    accounts = [account for _person, account in registered]
    try:
        creator = accounts[0]
        for other in accounts[1:]:  # one creator session: its requests go one by one
            befriend(creator, other)
        answer = creator.api.request(
            "POST", "/api/groups", json={"members": [a.id for a in accounts[1:]]})
        group = answer["group"]
        listed = [member["id"] for member in group["members"]]
        if sorted(listed) != sorted(a.id for a in accounts):
            raise RuntimeError(f"group {group['id']} was created with members {listed}")
    finally:
        for account in accounts:
            account.api.close()
    members = [person for person, _account in registered]
    return Group(group["id"], members), time.perf_counter() - started


def recipients(group, sender):
    """Every member as `sender` wraps for it: its current key and their pair key (§9.4),
    the sender's own self pair included."""
    return [Recipient(m.id, m.key_id, group_pair_key(sender.private, sender.id, m.id, m.public))
            for m in group.members]


def seal(group, sender, count, body=None):
    """`count` group envelopes from `sender`, each with a fresh cid, K and nonces."""
    body = body or text_body()
    wrapped_for = recipients(group, sender)
    pool = []
    for _ in range(count):
        plain = {"t": "text", "body": body, "sent": int(time.time() * 1000)}
        envelope = seal_group_message(group.id, sender.id, sender.key_id, wrapped_for, plain)
        pool.append(Envelope(envelope["cid"], json.dumps(envelope, **_JSON), None))
    return pool
