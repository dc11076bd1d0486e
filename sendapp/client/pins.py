"""Key pinning (PROTOCOL §3, §6): which public keys of a friend this client may use.

The server only stores and relays keys; it must not be able to choose them. So a
key counts only when its id is the hash of its bytes, and a friend's key is
trusted only when its id is in the set the user accepted. That set lives in the
vault's ``peers`` field, so the browser and this client, on every device, trust
the same keys. The browser's twin of this module is ``static/js/pins.js``.
"""
import re

from .. import crypto
from ..encoding import b64url_decode

ACCEPTED, FIRST_USE, CHANGED = "accepted", "first_use", "changed"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{12}$")
_USER_ID = re.compile(r"^[1-9][0-9]{0,15}$")


def verified_key(item):
    """``(key id, public bytes)`` of a key from the server, or None when its id is not its hash."""
    if not isinstance(item, dict):
        return None
    kid = item.get("id")
    if not isinstance(kid, str) or not _KEY_ID.match(kid):
        return None
    try:
        public = b64url_decode(item.get("public_key"), crypto.KEY_BYTES)
    except (TypeError, ValueError):
        return None
    if crypto.key_id(public) != kid:
        return None
    return kid, public


def judge(accepted, kid):
    """How `kid` stands against one friend's accepted set (empty or None: nothing accepted yet)."""
    if not accepted:
        return FIRST_USE
    return ACCEPTED if kid in accepted else CHANGED


def read_peers(value):
    """The vault's ``peers`` ({"<user id>": [key id, …]}) as {user id: set}; junk is skipped."""
    peers = {}
    if not isinstance(value, dict):
        return peers
    for user, ids in value.items():
        if not isinstance(user, str) or not _USER_ID.match(user) or not isinstance(ids, list):
            continue
        good = {kid for kid in ids if isinstance(kid, str) and _KEY_ID.match(kid)}
        if good:
            peers[int(user)] = good
    return peers


def write_peers(peers):
    """{user id: set} as the vault's ``peers`` field (sorted, so equal sets compare equal)."""
    return {str(user): sorted(peers[user]) for user in sorted(peers) if peers[user]}


def merge_peers(*maps):
    """The union of accepted sets: accepting only ever adds a key, never drops one."""
    merged = {}
    for peers in maps:
        for user, ids in peers.items():
            merged.setdefault(user, set()).update(ids)
    return merged
