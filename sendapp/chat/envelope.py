"""The envelope schema (PROTOCOL §5, §8): the one place that decides what a `send` may carry."""
from dataclasses import dataclass
from typing import NamedTuple

from flask import current_app

from ..errors import ApiError
from ..validation import require_b64url, require_int, require_object, require_str

CID_CHARS = 22
KEY_ID_CHARS = 12
NONCE_BYTES = 12


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
        raise ApiError("bad_request", f"{field} must be a {KEY_ID_CHARS}-character key id")
    require_b64url(value, field, length=9)
    return value


def parse(data):
    """Validate a client envelope and rebuild it from the known fields only."""
    data = require_object(data, "envelope")
    if "v" not in data:
        raise ApiError("bad_request", "v is missing")
    if not isinstance(data["v"], int) or isinstance(data["v"], bool) or data["v"] != 1:
        raise ApiError("bad_request", "v must be 1")
    for field in ("cid", "to", "sk", "rk", "n", "ct"):
        if field not in data:
            raise ApiError("bad_request", f"{field} is missing")
    to = require_int(data["to"], "to", minimum=1)
    cid = require_str(data["cid"], "cid")
    if len(cid) != CID_CHARS:
        raise ApiError("bad_request", f"cid must be {CID_CHARS} base64url characters")
    require_b64url(cid, "cid", length=16)
    sk = _key_id(data["sk"], "sk")
    rk = _key_id(data["rk"], "rk")
    require_b64url(data["n"], "n", length=NONCE_BYTES)
    limit = current_app.config["MAX_CIPHERTEXT_CHARS"]
    ct = data["ct"]
    require_b64url(ct, "ct", max_chars=limit)
    if len(ct) < 22:  # AES-GCM tag alone is 16 bytes
        raise ApiError("bad_request", "ct is too short to hold a ciphertext")
    return Envelope(cid=cid, to=to, sk=sk, rk=rk, n=data["n"], ct=ct)


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


def stored(envelope, sender_id, stored_id, ts):
    return Stored(stored_id, sender_id, envelope.to, envelope.cid, envelope.sk, envelope.rk,
                  envelope.n, envelope.ct, ts)


def as_wire(message):
    """A stored message as the envelope clients receive (PROTOCOL §8)."""
    return {
        "v": 1, "id": message.id, "from": message.sender_id, "to": message.recipient_id,
        "cid": message.cid, "sk": message.sk, "rk": message.rk, "n": message.n,
        "ct": message.ct, "ts": message.ts,
    }
