"""The live client's exceptions, in one module so every part raises the same types."""


class RealtimeError(Exception):
    """The socket could not be opened or an event was refused.

    `details` holds the extra fields of a refusal ack, e.g. `members` of §9.5's
    `stale_members`.
    """

    def __init__(self, message, code=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


class SendFailure(RealtimeError):
    """The server refused an envelope for good (`{ok: false, error, message}` ack, §8)."""


class StateError(Exception):
    """The state file is unreadable or belongs to another account or server."""
