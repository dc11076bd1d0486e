"""Who is online: a user is online from their first socket until their last one closes.

Kept in this process; a multi-process deployment would move it to the message queue's Redis.
"""
import threading

_sockets = {}
_lock = threading.Lock()


def connected(user_id, sid):
    """Record a socket; True when it is the user's first."""
    with _lock:
        sids = _sockets.setdefault(user_id, set())
        first = not sids
        sids.add(sid)
        return first


def disconnected(user_id, sid):
    """Forget a socket; True when it was the user's last."""
    with _lock:
        sids = _sockets.get(user_id, set())
        sids.discard(sid)
        if sids:
            return False
        _sockets.pop(user_id, None)
        return True


def is_online(user_id):
    return bool(_sockets.get(user_id))
