"""Group messages for one `Account`: whom to wrap for, seal, open, seal again (PROTOCOL §9.3, §9.4).

The cryptography is `sendapp.group_crypto`; this module only decides which keys
to use, as account.py does for pairs, and reuses the account's pair keys and key
pins (§6 applies between co-members as between friends, §9.6). No network here
beyond what the account already does (fetching public keys) and the one blob
upload of a file message.
"""
from .. import crypto
from ..group_crypto import (
    Recipient,
    group_entry,
    group_plaintext,
    open_group_message,
    read_group_plaintext,
    seal_group_message,
)
from .account import MAX_CIPHERTEXT_CHARS, AccountError, file_plain, now_ms
from .http import ApiFailure

NAME_SEARCH = 200  # recent messages searched for the group's name when none was seen live


def is_group_envelope(envelope):
    """A group envelope is one with a `g` field (§9.5)."""
    return isinstance(envelope, dict) and "g" in envelope


def member_ids(group):
    """The ids of a §9.2 group object's members, oldest first."""
    return [member["id"] for member in group["members"]]


def admin_ids(group):
    return [member["id"] for member in group["members"] if member.get("role") == "admin"]


def recipients(account, group, confirm_key_change=False):
    """One `Recipient` per current member, me included under my current key (§9.4).

    Each member's key is its current key from GET /api/users/<id>/keys, judged
    against the accepted keys like a friend's (§6): a changed key refuses the send
    (`KeyChangeError`) unless `confirm_key_change`. When the group lists a newer
    key than the one cached, the cache is dropped and the keys fetched again.
    """
    own_kid = account.current_key_id
    if own_kid not in account.key_pairs:
        raise AccountError("your current key is not in your vault; log in again")
    result = []
    for member in group["members"]:
        user_id = member["id"]
        if user_id == account.id:
            kid = own_kid
        else:
            listed = member.get("key_id")
            if listed and listed != account.peer_current_key(user_id, check=False):
                account.forget_peer(user_id)
            kid = account.sendable_key(user_id, confirm_key_change)
        result.append(Recipient(user_id, kid, account.pair_key(own_kid, user_id, kid)))
    if account.id not in member_ids(group):
        raise AccountError(f"you are not a member of group {group['id']}")
    return result


def seal(account, group, plain, cid=None, confirm_key_change=False):
    """Seal a plaintext once for every current member of `group`, me included (§9.4).

    :param cid: the cid of the message this one replaces (a re-seal after
        `stale_members` keeps it, §9.5); None draws a fresh one.
    """
    envelope = seal_group_message(group["id"], account.id, account.current_key_id,
                                  recipients(account, group, confirm_key_change), plain, cid=cid)
    if len(envelope["ct"]) > MAX_CIPHERTEXT_CHARS:
        raise AccountError("the message is too long")
    return envelope


def open_envelope(account, envelope):
    """Open a delivered group envelope with the pair key of (my `rk`, the sender's `sk`) (§9.4).

    :raises crypto.CryptoError: when it cannot be opened (show "could not decrypt").
    :raises ApiFailure: when the sender's keys cannot be fetched.
    """
    try:
        entry = group_entry(envelope, account.id)
        sender, sk, rk = envelope["from"], envelope["sk"], entry["rk"]
    except (KeyError, TypeError):
        raise crypto.CryptoError("the group envelope is malformed") from None
    if isinstance(sender, bool) or not isinstance(sender, int) or sender <= 0 \
            or not isinstance(sk, str) or not isinstance(rk, str):
        raise crypto.CryptoError("the group envelope names an invalid sender or key")
    return open_group_message(account.pair_key(rk, sender, sk), envelope, account.id)


def reseal(account, envelope, group):
    """The same plaintext sealed again for `group`'s members, with the same cid (§9.5).

    The plaintext is read back through my own wrap (the self wrap of §9.4), so an
    outbox kept on disk never needs to hold a plaintext to survive a restart.
    """
    plain = open_envelope(account, {**envelope, "from": account.id})
    if plain.get("t") == "group":  # its roster must name the members it is wrapped for (§9.3)
        leaving = account.id not in plain.get("members", [])
        plain = roster_plain(account, group, plain.get("name", ""), leaving=leaving)
    return seal(account, group, plain, cid=envelope["cid"])


def text_plain(text):
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    return {"t": "text", "body": text, "sent": now_ms()}


def upload_file(account, group, data, name, mime="application/octet-stream"):
    """Encrypt an attachment, upload it with ?group= (§9.2), return its `file` plaintext."""
    data = bytes(data)
    recipients(account, group)  # refuse (key change, not a member) before uploading anything
    encrypted = crypto.encrypt_file(data)
    blob_id = account.api.upload_group_blob(group["id"], encrypted.ciphertext)
    return file_plain(blob_id, name, mime, len(data), encrypted)


def roster_plain(account, group, name, leaving=False):
    """The `group` plaintext an admin sends after a change (§9.3), from the group as listed.

    With `leaving`, it is the message of an admin about to leave: without me in
    `members`, and, when I am the only admin, with my successor (the oldest other
    member, §9.1) in `admins`.
    """
    members, admins = member_ids(group), admin_ids(group)
    if leaving:
        members = [m for m in members if m != account.id]
        admins = [a for a in admins if a != account.id]
        if not admins and members:
            admins = [members[0]]  # members are listed oldest first
    return group_plaintext(name, members, admins, now_ms())


def newest_group_plain(account, group_id, limit=NAME_SEARCH):
    """The newest readable `group` message among a group's recent ones (§9.3), or None.

    A client that was not listening when the group was named (a new device, a
    command line run) learns the name here before it announces a change, so an
    announcement never renames the group by accident.
    """
    page = account.api.group_history(group_id, limit=limit)
    for envelope in reversed(page["messages"]):
        try:
            plain = open_envelope(account, envelope)
            if plain.get("t") == "group":
                return read_group_plaintext(plain)
        except (crypto.CryptoError, ApiFailure, TypeError, ValueError):
            continue
    return None
