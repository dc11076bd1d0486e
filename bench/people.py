"""Benchmark users and what they send: real accounts and real PROTOCOL §5 envelopes.

On SendApp every user is registered through the API by `sendapp.client.Account` (the
KDF, key pair and vault a browser makes) and befriended by request and accept; the
socket authenticates with the session cookie that registration set. On the bare relay
users exist only as ids with locally made key pairs. Either way the envelopes are sealed
with `sendapp.crypto` under the pair key of the two real key pairs, before the timed
part, and kept as JSON text ready for the wire.
"""
import json
import secrets
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sendapp import crypto
from sendapp.client import Account, ApiFailure, HttpApi

from .targets import KDF_ITERATIONS

PASSWORD = "bench horse battery staple"
PLAINTEXT_BYTES = 448  # the padded plaintext each envelope seals (a multiple of 32)
_JSON = {"separators": (",", ":")}
REGISTER_CONCURRENCY = 16  # pairs registered at once


@dataclass
class Person:
    """One user as the generator sees it: id, key pair, how its sockets authenticate."""

    id: int
    key_id: str
    private: bytes
    public: bytes
    username: str = ""
    cookie: str | None = None  # SendApp: the session cookie set at registration
    query: dict = field(default_factory=dict)  # bare relay: {"user", "peer"}


@dataclass
class Pair:
    """A sender and a receiver who are friends, and their pair key (§4)."""

    sender: Person
    receiver: Person
    key: bytes


@dataclass
class Envelope:
    """One sealed `send` envelope: its cid, its JSON text and its fields."""

    cid: str
    wire: str
    fields: dict


def pair_key(a, b):
    """The pair key as `a` computes it (§4); `b` computes the same one."""
    lo, hi = sorted((a, b), key=lambda person: person.id)
    return crypto.pair_key(a.private, b.public, lo.id, hi.id, lo.public, hi.public)


def text_body():
    """A text body whose message object pads to exactly PLAINTEXT_BYTES (§5)."""
    sent = int(time.time() * 1000)
    empty = len(json.dumps({"t": "text", "body": "", "sent": sent}, **_JSON))
    alphabet = string.ascii_letters + string.digits + " "
    return "".join(secrets.choice(alphabet) for _ in range(PLAINTEXT_BYTES - 1 - empty))


def seal(pair, count, body=None, keep_fields=False):
    """`count` envelopes from pair.sender to pair.receiver, each with a fresh cid and nonce.

    :param keep_fields: also keep each envelope's dict (for direct inserts); else only text.
    """
    body = body or text_body()
    s, r = pair.sender, pair.receiver
    pool = []
    for _ in range(count):
        plain = {"t": "text", "body": body, "sent": int(time.time() * 1000)}
        envelope = crypto.encrypt_message(pair.key, s.id, r.id, s.key_id, r.key_id, plain)
        pool.append(Envelope(envelope["cid"], json.dumps(envelope, **_JSON),
                             envelope if keep_fields else None))
    return pool


def wire_bytes(pair):
    """Bytes of one `send` envelope's JSON (what a message costs on the wire, before framing)."""
    return len(seal(pair, 1)[0].wire)


# --- SendApp: accounts through the API ---------------------------------------------------------
def register(url, ca, username, attempts=5):
    """Register through the API as a browser would; return the Person and its Account.

    A `retry` refusal (the database was busy: nothing stored, §7) is retried, bounded,
    as concurrent registrations on SQLite can meet one."""
    for attempt in range(attempts):
        try:
            account = Account.register(HttpApi(url, ca=str(ca)), username, PASSWORD,
                                       min_iterations=KDF_ITERATIONS)
            break
        except ApiFailure as failure:
            if failure.code != "retry" or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    pair = account.key_pairs[account.current_key_id]
    person = Person(id=account.id, key_id=pair.key_id, private=pair.private,
                    public=pair.public, username=account.username,
                    cookie=account.api.cookie_header())
    return person, account


def befriend(a_account, b_account):
    """a asks, b accepts (PROTOCOL §7)."""
    answer = a_account.api.request_friend(b_account.username)
    if answer.get("status") != "requested":
        raise RuntimeError(f"friend request answered {answer!r}")
    b_account.api.accept_friend(a_account.id)


def register_pair(url, ca, prefix, index):
    """Register two users, make them friends; return their Pair (the API sessions closed)."""
    a, a_account = register(url, ca, f"{prefix}a{index}")
    b, b_account = register(url, ca, f"{prefix}b{index}")
    try:
        befriend(a_account, b_account)
    finally:
        a_account.api.close()
        b_account.api.close()
    return Pair(a, b, pair_key(a, b))


def sendapp_pairs(url, ca, count, prefix, concurrency=REGISTER_CONCURRENCY):
    """`count` fresh pairs of friends registered on a SendApp server; returns (pairs, seconds).

    Pairs are registered `concurrency` at a time (threads: the API client is blocking), so
    a thousand users take seconds, not minutes."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, count))) as pool:
        pairs = list(pool.map(lambda index: register_pair(url, ca, prefix, index),
                              range(count)))
    return pairs, time.perf_counter() - started


# --- the bare relay: ids and local key pairs ------------------------------------------------------
def bare_pairs(count, first_id=1):
    """`count` pairs for the bare relay: ids, local key pairs, the query naming user and peer."""
    pairs = []
    for index in range(count):
        people = []
        for offset in (0, 1):
            private, public = crypto.generate_identity()
            people.append(Person(id=first_id + 2 * index + offset, key_id=crypto.key_id(public),
                                 private=private, public=public))
        a, b = people
        a.query = {"user": str(a.id), "peer": str(b.id)}
        b.query = {"user": str(b.id), "peer": str(a.id)}
        pairs.append(Pair(a, b, pair_key(a, b)))
    return pairs
