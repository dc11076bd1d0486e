"""The envelope schema (PROTOCOL §5, §8, §9.4-9.5): the one place that decides what a `send`
may carry, and what a stored message looks like on the wire."""
from dataclasses import dataclass
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from ..errors import ApiError
from ..validation import require_b64url, require_id, require_int, require_object, require_str

CID_CHARS = 22
KEY_ID_CHARS = 12
NONCE_BYTES = 12
WRAP_BYTES = 48  # a wrapped 32-byte message key plus its 16-byte tag (§9.4)


@dataclass(frozen=True)
class Envelope:
    """A validated client envelope; unknown fields are already dropped."""

    cid: str
    to: int
    sk: str
    rk: str
    n: str
    ct: str

    def same_content(self, message):
        """True when a stored row carries exactly this envelope (a retried `cid`)."""
        return (message.recipient_id, message.sk, message.rk, message.n, message.ct) == (
            self.to, self.sk, self.rk, self.n, self.ct)


def _key_id(value, field):
    require_str(value, field)
    if len(value) != KEY_ID_CHARS:
        raise ApiError("bad_request", _("%(field)s must be a %(count)d-character key id",
                                        field=field, count=KEY_ID_CHARS))
    require_b64url(value, field, length=9)
    return value


def parse(data):
    """Validate a client envelope and rebuild it from the known fields only: an Envelope, or a
    GroupEnvelope when it has `g` (§9.5)."""
    data = require_object(data, "envelope")
    if "g" in data:
        return _parse_group(data)
    _version(data)
    for field in ("cid", "to", "sk", "rk", "n", "ct"):
        if field not in data:
            raise ApiError("bad_request", _("%(field)s is missing", field=field))
    to = require_int(data["to"], "to", minimum=1)
    cid = _cid(data["cid"])
    sk = _key_id(data["sk"], "sk")
    rk = _key_id(data["rk"], "rk")
    require_b64url(data["n"], "n", length=NONCE_BYTES)
    ct = _ct(data["ct"])
    return Envelope(cid=cid, to=to, sk=sk, rk=rk, n=data["n"], ct=ct)


def _version(data):
    if "v" not in data:
        raise ApiError("bad_request", _("%(field)s is missing", field="v"))
    if not isinstance(data["v"], int) or isinstance(data["v"], bool) or data["v"] != 1:
        raise ApiError("bad_request", _("v must be 1"))


def _cid(cid):
    require_str(cid, "cid")
    if len(cid) != CID_CHARS:
        raise ApiError("bad_request", _("cid must be %(count)d base64url characters",
                                        count=CID_CHARS))
    require_b64url(cid, "cid", length=16)
    return cid


def _ct(ct):
    limit = current_app.config["MAX_CIPHERTEXT_CHARS"]
    require_b64url(ct, "ct", max_chars=limit)
    if len(ct) < 22:  # AES-GCM tag alone is 16 bytes
        raise ApiError("bad_request", _("ct is too short to hold a ciphertext"))
    return ct


class KeyEntry(NamedTuple):
    """One member's wrap of a group message's key (§9.4): what that member receives."""

    to: int
    rk: str
    n: str
    w: str

    def as_wire(self):
        return {"to": self.to, "rk": self.rk, "n": self.n, "w": self.w}


@dataclass(frozen=True)
class GroupEnvelope:
    """A validated group envelope (§9.4); unknown fields are already dropped.

    `keys` holds one entry per distinct `to`, ascending by `to` (the client's order carries
    no meaning: §9.5 compares the entries as a set).
    """

    cid: str
    g: int
    sk: str
    n: str
    ct: str
    keys: tuple

    @property
    def members(self):
        """The user ids this message is wrapped for, ascending."""
        return [entry.to for entry in self.keys]

    def entry_for(self, user_id):
        """The user's own KeyEntry, or None."""
        return next((entry for entry in self.keys if entry.to == user_id), None)

    def same_content(self, message, entries=()):
        """True when a stored row (and its wraps, `entries` as (to, rk, n, w)) carries exactly
        this envelope: equal g, sk, n, ct and the same set of entries (§9.5 step 2). A stored
        1:1 message never matches (its group_id is None)."""
        return ((getattr(message, "group_id", None), message.sk, message.n, message.ct)
                == (self.g, self.sk, self.n, self.ct)
                and sorted(tuple(e) for e in entries) == [tuple(e) for e in self.keys])


def _parse_group(data):
    """§9.5 step 1, in its order; `to` or `rk` beside `g` is refused, not dropped."""
    for field in ("to", "rk"):
        if field in data:
            raise ApiError("bad_request", _("a group envelope (g) must not carry %(field)s",
                                            field=field))
    _version(data)
    for field in ("g", "cid", "sk", "n", "ct", "keys"):
        if field not in data:
            raise ApiError("bad_request", _("%(field)s is missing", field=field))
    g = require_id(data["g"], "g")
    cid = _cid(data["cid"])
    sk = _key_id(data["sk"], "sk")
    require_b64url(data["n"], "n", length=NONCE_BYTES)
    ct = _ct(data["ct"])
    keys = _entries(data["keys"])
    return GroupEnvelope(cid=cid, g=g, sk=sk, n=data["n"], ct=ct, keys=keys)


def _entries(raw):
    if not isinstance(raw, list) or not raw:
        raise ApiError("bad_request", _("keys must be a non-empty array"))
    most = current_app.config["GROUP_MAX_MEMBERS"]
    if len(raw) > most:
        raise ApiError("too_large", ngettext("keys has more than %(num)d entry",
                                             "keys has more than %(num)d entries", most))
    entries = {}
    for index, item in enumerate(raw):
        field = f"keys[{index}]"
        require_object(item, field)
        for name in ("to", "rk", "n", "w"):
            if name not in item:
                missing = f"{field}.{name}"
                raise ApiError("bad_request", _("%(field)s is missing", field=missing))
        to = require_id(item["to"], f"{field}.to")
        rk = _key_id(item["rk"], f"{field}.rk")
        require_b64url(item["n"], f"{field}.n", length=NONCE_BYTES)
        require_b64url(item["w"], f"{field}.w", length=WRAP_BYTES)
        if to in entries:
            raise ApiError("bad_request", _("keys names user %(user)s twice", user=to))
        entries[to] = KeyEntry(to, rk, item["n"], item["w"])
    return tuple(entries[to] for to in sorted(entries))


class Stored(NamedTuple):
    """A just-written message, with the names of Message's columns (as_wire takes either)."""

    id: int
    sender_id: int
    recipient_id: int
    cid: str
    sk: str
    rk: str
    n: str
    ct: str
    ts: int
    group_id: int = None


def stored(envelope, sender_id, stored_id, ts):
    """The just-written message of an envelope of either kind."""
    if isinstance(envelope, GroupEnvelope):
        return Stored(stored_id, sender_id, None, envelope.cid, envelope.sk, None, envelope.n,
                      envelope.ct, ts, envelope.g)
    return Stored(stored_id, sender_id, envelope.to, envelope.cid, envelope.sk, envelope.rk,
                  envelope.n, envelope.ct, ts)


def as_wire(message):
    """A stored message as the envelope its reader receives: a 1:1 message as §8, a group
    message as §9.5 with the one entry of the row's `key_to`, `key_rk`, `key_n`, `key_w`
    columns (the reader's own wrap, joined from message_keys)."""
    if message.group_id is not None:
        return as_delivered(message, KeyEntry(message.key_to, message.key_rk, message.key_n,
                                              message.key_w))
    return {
        "v": 1, "id": message.id, "from": message.sender_id, "to": message.recipient_id,
        "cid": message.cid, "sk": message.sk, "rk": message.rk, "n": message.n,
        "ct": message.ct, "ts": message.ts,
    }


def as_delivered(message, entry):
    """A group message as the member of `entry` receives it: only its own entry (§9.5)."""
    return {
        "v": 1, "id": message.id, "from": message.sender_id, "ts": message.ts,
        "g": message.group_id, "cid": message.cid, "sk": message.sk, "n": message.n,
        "ct": message.ct, "keys": [entry.as_wire()],
    }
