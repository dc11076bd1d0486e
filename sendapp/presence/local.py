"""This process's sockets per user: all of presence with one process, and the truth a shared
store is rebuilt from (`shared.py`) when Redis lost or dropped this process's entries."""
import threading


class LocalPresence:
    """A user is online from their first socket here until their last one here closes."""

    def __init__(self):
        self._sockets = {}
        self._lock = threading.Lock()

    def connected(self, user_id, sid):
        """Record a socket; True when it is the user's first."""
        with self._lock:
            sids = self._sockets.setdefault(user_id, set())
            first = not sids
            sids.add(sid)
            return first

    def disconnected(self, user_id, sid):
        """Forget a socket; True when it was the user's last."""
        with self._lock:
            sids = self._sockets.get(user_id)
            if not sids or sid not in sids:
                return False  # never recorded (its connect failed): nothing changes
            sids.discard(sid)
            if sids:
                return False
            del self._sockets[user_id]
            return True

    def holds(self, user_id, sid):
        """True while the socket is recorded here."""
        with self._lock:
            return sid in self._sockets.get(user_id, ())

    def online_among(self, user_ids):
        """The users of `user_ids` who have a socket here."""
        with self._lock:
            return {user_id for user_id in user_ids if self._sockets.get(user_id)}

    def counts(self):
        """User id → number of sockets here, a snapshot."""
        with self._lock:
            return {user_id: len(sids) for user_id, sids in self._sockets.items() if sids}
