"""Group cryptography for Python clients and tests (PROTOCOL §9.3, §9.4).

A group message is sealed once under a fresh message key `K`, and `K` is
wrapped for every member, the sender included, under the §4 pair key. The
primitives (AES-GCM, HKDF, X25519, padding, JSON) are those of
`sendapp.crypto`; this module adds only the §9 labels, AADs and envelope.
Nothing here logs, and nothing imports Flask: the server never seals or opens.
"""
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .crypto import (
    KEY_BYTES, LABEL, NONCE_BYTES, PROTOCOL_VERSION, CryptoError, _field, _json_bytes,
    _json_object, _nonce, _open, _require_len, _seal, _token, _u, new_cid, pad,
    pair_key as derive_pair_key, public_from_private, unpad,
)
from .encoding import b64url_encode, utf8

# --- Domain-separation labels and sizes (PROTOCOL §9.3, §9.4) ------------------------------
AAD_GMSG_PREFIX = LABEL + "gmsg|"
AAD_GWRAP_PREFIX = LABEL + "gwrap|"
WRAP_BYTES = KEY_BYTES + 16  # a wrapped K: 32 bytes of key and a 16-byte GCM tag
GROUP_TYPE = "group"
MAX_NAME_CODE_POINTS = 100


@dataclass(frozen=True)
class Recipient:
    """One member a message key is wrapped for: its id, its current key id and our pair key."""

    user_id: int
    key_id: str
    pair_key: bytes

    def __repr__(self):
        """Keep the pair key out of logs and tracebacks."""
        return f"Recipient(user_id={self.user_id!r}, key_id={self.key_id!r})"


# --- §9.4 Keys -------------------------------------------------------------------------------
def group_pair_key(own_private: bytes, own_id: int, peer_id: int, peer_public: bytes) -> bytes:
    """Derive the pair key that wraps `K` between me and a member, myself included (§4, §9.4).

    :param peer_public: the member's key named by `rk` (or the sender's, named by `sk`);
        for my own entry, my own public key.
    """
    if peer_id == own_id:
        return self_pair_key(own_private, own_id, peer_public)
    own_public = public_from_private(own_private)
    if own_id < peer_id:
        return derive_pair_key(own_private, peer_public, own_id, peer_id, own_public, peer_public)
    return derive_pair_key(own_private, peer_public, peer_id, own_id, peer_public, own_public)


def self_pair_key(own_private: bytes, user_id: int, public: bytes | None = None) -> bytes:
    """Derive the self pair key, §4 with lo = hi = me, for the sender's own wrap (§9.4).

    :param public: the key that `sk` names, checked against `own_private` when given.
    """
    own_public = public_from_private(own_private)
    if public is not None and bytes(public) != own_public:
        raise CryptoError("the self pair needs my own public key")
    return derive_pair_key(own_private, own_public, user_id, user_id, own_public, own_public)


# --- §9.4 AADs and the ciphertext hash -------------------------------------------------------
def group_message_aad(group_id: int, sender: int, cid: str, sk: str) -> bytes:
    """Build the AAD of `ct`: group, sender, cid and sender key (§9.4)."""
    return utf8(AAD_GMSG_PREFIX + "|".join(
        (_u(group_id), _u(sender), _token(cid, "cid"), _token(sk, "sk"))))


def group_wrap_aad(group_id: int, sender: int, member: int, cid: str, sk: str, rk: str,
                   h: str) -> bytes:
    """Build the AAD of one wrap, binding it to its member, both keys and this `ct` (§9.4)."""
    return utf8(AAD_GWRAP_PREFIX + "|".join(
        (_u(group_id), _u(sender), _u(member), _token(cid, "cid"), _token(sk, "sk"),
         _token(rk, "rk"), _token(h, "h"))))


def ciphertext_hash(ct: bytes) -> str:
    """Name the exact `ct` a wrap accepts: b64url(SHA-256(raw ct)), `h` in §9.4."""
    return b64url_encode(hashlib.sha256(bytes(ct)).digest())


# --- §9.4 Sealing ------------------------------------------------------------------------------
def seal_group_message(group_id: int, sender: int, sk: str, recipients: Sequence[Recipient],
                       plain: dict, *, cid: str | None = None, message_key: bytes | None = None,
                       nonce: bytes | None = None,
                       wrap_nonces: Mapping[int, bytes] | None = None) -> dict:
    """Seal a plaintext for a group and wrap its key for every member into a `send` envelope (§9.4).

    `recipients` are the current members in the order their entries should
    take, the sender included with `key_id` = `sk` and its self pair key. A
    retry after `stale_members` passes the same `cid` (§9.5). `message_key`,
    `nonce` and `wrap_nonces` (by user id) exist for the vectors: left out,
    each is drawn fresh.
    """
    if not isinstance(plain, dict):
        raise TypeError("plain must be a dict")
    recipients = _checked_recipients(recipients, sender, sk)
    cid = new_cid() if cid is None else cid
    key = secrets.token_bytes(KEY_BYTES) if message_key is None else message_key
    _require_len(key, KEY_BYTES, "message key")
    nonce = _nonce(nonce)
    ct = _seal(key, nonce, pad(_json_bytes(plain)), group_message_aad(group_id, sender, cid, sk))
    h = ciphertext_hash(ct)
    wrap_nonces = wrap_nonces or {}
    keys = []
    for r in recipients:
        n_m = _nonce(wrap_nonces.get(r.user_id))
        w = _seal(r.pair_key, n_m, key,
                  group_wrap_aad(group_id, sender, r.user_id, cid, sk, r.key_id, h))
        keys.append({"to": r.user_id, "rk": r.key_id, "n": b64url_encode(n_m),
                     "w": b64url_encode(w)})
    return {"v": PROTOCOL_VERSION, "cid": cid, "g": group_id, "sk": sk,
            "n": b64url_encode(nonce), "ct": b64url_encode(ct), "keys": keys}


def _checked_recipients(recipients: Iterable[Recipient], sender: int, sk: str) -> list[Recipient]:
    """Refuse a member list the server would refuse: repeats, or no self entry under `sk` (§9.5)."""
    recipients = list(recipients)
    seen = set()
    for r in recipients:
        if not isinstance(r, Recipient):
            raise TypeError("recipients must be Recipient objects")
        _u(r.user_id)
        _token(r.key_id, "rk")
        _require_len(r.pair_key, KEY_BYTES, "pair key")
        if r.user_id in seen:
            raise ValueError(f"user {r.user_id} is listed twice")
        seen.add(r.user_id)
    own = [r for r in recipients if r.user_id == sender]
    if not own:
        raise ValueError("the sender must wrap the key for itself too (§9.4)")
    if own[0].key_id != sk:
        raise ValueError("the sender's own entry must have rk = sk (§9.5)")
    return recipients


# --- §9.4 Opening ------------------------------------------------------------------------------
def group_entry(envelope: dict, me: int) -> dict:
    """Return my entry of a group envelope, to pick the pair key for its `rk`, or raise CryptoError."""
    keys = envelope.get("keys") if isinstance(envelope, dict) else None
    if not isinstance(keys, list):
        raise CryptoError("group envelope has no keys")
    mine = [e for e in keys if isinstance(e, dict) and _same_id(e.get("to"), me)]
    if len(mine) != 1:
        raise CryptoError("group envelope has no single entry for this member")
    return mine[0]


def unwrap_message_key(pair_key: bytes, envelope: dict, me: int) -> bytes:
    """Open my wrap of a received group envelope and return `K`, or raise CryptoError (§9.4).

    :param pair_key: the pair key of my key `rk` and the sender's key `sk`
        (see group_pair_key); `h` is computed here from the received `ct`.
    """
    _version(envelope)
    entry = group_entry(envelope, me)
    ct = _field(envelope, "ct")
    try:
        aad = group_wrap_aad(envelope["g"], envelope["from"], me, envelope["cid"],
                             envelope["sk"], entry["rk"], ciphertext_hash(ct))
    except (KeyError, TypeError, ValueError) as exc:
        raise CryptoError("group envelope is malformed") from exc
    key = _open(pair_key, _field(entry, "n", NONCE_BYTES), _field(entry, "w", WRAP_BYTES), aad)
    if len(key) != KEY_BYTES:
        raise CryptoError("wrapped message key has a bad length")
    return key


def open_group_content(message_key: bytes, envelope: dict) -> dict:
    """Open `ct` with a known `K` and remove the padding, or raise CryptoError (§9.4)."""
    _version(envelope)
    try:
        aad = group_message_aad(envelope["g"], envelope["from"], envelope["cid"], envelope["sk"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CryptoError("group envelope is malformed") from exc
    padded = _open(message_key, _field(envelope, "n", NONCE_BYTES), _field(envelope, "ct"), aad)
    return _json_object(unpad(padded))


def open_group_message(pair_key: bytes, envelope: dict, me: int) -> dict:
    """Decrypt a delivered group envelope (with server-set `from`) for member `me` (§9.4).

    Any failure raises CryptoError; the caller shows "could not decrypt",
    never drops the message silently.
    """
    return open_group_content(unwrap_message_key(pair_key, envelope, me), envelope)


def _version(envelope) -> None:
    """Refuse anything but a version-1 envelope object."""
    if not isinstance(envelope, dict) or envelope.get("v") != PROTOCOL_VERSION:
        raise CryptoError("unsupported envelope version")


def _same_id(value, me: int) -> bool:
    """Compare a JSON user id with mine, never equating True with 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value == me


# --- §9.3 Group plaintexts ----------------------------------------------------------------------
def group_plaintext(name: str, members: Iterable[int], admins: Iterable[int], sent: int) -> dict:
    """Build the `group` plaintext an admin seals after a change or to rename (§9.3).

    :param name: 0 to 100 code points; "" leaves the group unnamed.
    Members and admins are sorted; every admin must be a member (§9.1).
    """
    if not isinstance(name, str):
        raise TypeError("name must be a str")
    if not name.isascii() and any(0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise ValueError("name contains a lone surrogate")
    if len(name) > MAX_NAME_CODE_POINTS:  # a str's length counts code points
        raise ValueError(f"a group name has at most {MAX_NAME_CODE_POINTS} characters")
    member_ids = sorted(set(_ids(members, "members")))
    admin_ids = sorted(set(_ids(admins, "admins")))
    if not set(admin_ids) <= set(member_ids):
        raise ValueError("every admin must be a member")
    return {"t": GROUP_TYPE, "name": name, "members": member_ids, "admins": admin_ids,
            "sent": _ms(sent)}


def read_group_plaintext(plain: dict) -> dict:
    """Check a received `group` plaintext; return its known fields, name cut to 100 code points (§9.3).

    :raises ValueError: when it is not a well-formed `group` message (the
        caller shows it as a system line and applies nothing, §9.6).
    """
    if not isinstance(plain, dict) or plain.get("t") != GROUP_TYPE:
        raise ValueError("not a group message")
    name = plain.get("name")
    if not isinstance(name, str):
        raise ValueError("group name must be a string")
    members = _ascending(plain.get("members"), "members")
    admins = _ascending(plain.get("admins"), "admins")
    if not set(admins) <= set(members):
        raise ValueError("every admin must be a member")
    return {"t": GROUP_TYPE, "name": shown_group_name(name), "members": members,
            "admins": admins, "sent": _ms(plain.get("sent"))}


def shown_group_name(name: str) -> str:
    """Cut a received name to the first 100 code points, all a receiver shows (§9.3)."""
    return name[:MAX_NAME_CODE_POINTS]


def _ids(values, what: str) -> list[int]:
    """Check a list of user ids (non-negative JSON integers)."""
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a list of user ids")
    values = list(values)
    for value in values:
        try:
            _u(value)
        except ValueError as exc:
            raise ValueError(f"{what} must hold user ids") from exc
    return values


def _ascending(values, what: str) -> list[int]:
    """Accept a received list of user ids only in strictly ascending order (§9.3)."""
    if not isinstance(values, list):
        raise ValueError(f"{what} must be a list")
    values = _ids(values, what)
    if any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(f"{what} must be in ascending order without repeats")
    return values


def _ms(value) -> int:
    """Check a timestamp in milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("sent must be a time in milliseconds")
    return value
