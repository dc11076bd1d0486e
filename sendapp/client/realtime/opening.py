"""Turn a received envelope into what the application sees: plaintext and key trust (§5, §6).

Kept apart from delivery so that how a message is opened (whose keys, which pins)
can vary by conversation kind while "each id once, cursor first" stays one rule:
a pair envelope opens with the pair key of its two keys (§5), a group envelope
(`g`, §9.4) with the pair key of my `rk` and the sender's `sk`.
"""
import asyncio
import logging
from dataclasses import dataclass, field

from ...crypto import CryptoError
from .. import groups
from ..http import ApiFailure

log = logging.getLogger("sendapp.client")


@dataclass
class IncomingMessage:
    """A received envelope and its plaintext, or the reason it could not be opened.

    A message that fails to decrypt is still delivered (`plain` None, `error`
    set) so the user sees "could not decrypt" instead of a silent gap (§5).
    A group message has `group` set, and `recipient` and `peer` None (§9.5).
    """

    id: int
    sender: int
    recipient: int
    ts: int
    cid: str
    peer: int
    mine: bool
    plain: dict | None
    error: str | None = None
    envelope: dict = field(default_factory=dict, repr=False)
    unverified: bool = False  # sent under a key the user has not accepted (§6)
    group: int | None = None  # the group of a group message (§9)

    @property
    def ok(self):
        return self.plain is not None

    @property
    def kind(self):
        return self.plain.get("t") if self.plain else None

    @property
    def text(self):
        """The body of a text message, else None."""
        return self.plain.get("body") if self.kind == "text" else None


async def open_envelope(account, envelope):
    """Decrypt one envelope for `account`; never raises, a failure becomes `error` (§5)."""
    message = IncomingMessage(
        id=envelope.get("id"), sender=envelope.get("from"), recipient=envelope.get("to"),
        ts=envelope.get("ts"), cid=envelope.get("cid"), peer=None,
        mine=envelope.get("from") == account.id, plain=None, envelope=envelope)
    try:
        if groups.is_group_envelope(envelope):
            message.group = envelope["g"]
            message.plain = await asyncio.to_thread(groups.open_envelope, account, envelope)
        else:
            message.peer = account.peer_of(envelope)
            message.plain = await asyncio.to_thread(account.decrypt, envelope)
        message.unverified = await asyncio.to_thread(_unverified, account, envelope)
    except CryptoError as error:
        message.error = f"could not decrypt: {error}"
    except ApiFailure as failure:
        message.error = f"could not decrypt: the sender's keys are unavailable ({failure})"
    except Exception as error:  # whatever a hostile server sends, show an item, go on
        log.warning("message %r could not be opened: %r", message.id, error)
        message.error = f"could not decrypt: malformed envelope ({type(error).__name__})"
    return message


def _unverified(account, envelope):
    """Whether the sender's key is one the user accepted (§6); when unsure, it is not."""
    try:
        return account.is_unverified(envelope)
    except Exception as error:  # keys unavailable or the vault write failed: mark it
        log.warning("could not check the key of message %r: %r", envelope.get("id"), error)
        return True
