"""What survives a restart: the outbox and the sync cursor, in one JSON state file (§8).

Both live in one file because they must move together: a killed client resends
exactly what was not acknowledged and syncs from exactly where it stopped. The
file knows nothing of conversations (envelopes are kept by cid, the cursor is
one id for the whole account), so pairs and groups share it unchanged.
"""
import json
import os
import tempfile
from pathlib import Path

from .errors import StateError

STATE_VERSION = 1


class ClientState:
    """The outbox (envelopes awaiting an ack, by cid, in send order) and the sync cursor.

    With a `path`, every change is written atomically (temp file + rename) so a
    process killed at any moment leaves either the old or the new state.
    """

    def __init__(self, path=None, user_id=None, server=None):
        self.path = Path(path) if path else None
        self.user_id = user_id
        self.server = server
        self.cursor = 0
        self.cursor_known = False  # False until a sync ran or a saved cursor was loaded
        self._outbox = {}
        if self.path is not None and self.path.exists():
            self._load()

    @property
    def pending(self):
        """Envelopes not yet acknowledged, oldest first."""
        return list(self._outbox.values())

    def __contains__(self, cid):
        return cid in self._outbox

    def __len__(self):
        return len(self._outbox)

    def add(self, envelope):
        """Queue an envelope and persist it before anything is emitted."""
        self._outbox[envelope["cid"]] = dict(envelope)
        self.save()

    def remove(self, cid):
        """Forget an acknowledged (or refused) envelope."""
        if self._outbox.pop(cid, None) is not None:
            self.save()

    def advance(self, message_id):
        """Move the cursor to `message_id` if higher (§8); True when it moved."""
        if isinstance(message_id, int) and not isinstance(message_id, bool) \
                and message_id > self.cursor:
            self.cursor = message_id
            return True
        return False

    def as_json(self):
        return {"v": STATE_VERSION, "server": self.server, "user": self.user_id,
                "cursor": self.cursor, "cursor_known": self.cursor_known,
                "outbox": list(self._outbox.values())}

    def save(self):
        """Write the state file atomically (0600); a no-op without a path."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sendapp-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.as_json(), handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _load(self):
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc}") from None
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            raise StateError(f"{self.path} is not a SendApp client state file")
        for name, mine in (("user", self.user_id), ("server", self.server)):
            theirs = data.get(name)
            if mine is not None and theirs is not None and theirs != mine:
                raise StateError(f"{self.path} belongs to {name} {theirs!r}, not {mine!r}")
        cursor = data.get("cursor", 0)
        outbox = data.get("outbox", [])
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0 \
                or not isinstance(outbox, list) \
                or not all(isinstance(e, dict) and isinstance(e.get("cid"), str) for e in outbox):
            raise StateError(f"{self.path} is damaged")
        self.cursor = cursor
        self.cursor_known = bool(data.get("cursor_known", cursor > 0))
        self._outbox = {e["cid"]: e for e in outbox}


def is_id(value):
    """A positive integer that is not a bool: what the server sends as a message or user id."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
