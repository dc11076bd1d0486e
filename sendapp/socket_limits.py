"""The per-user limit on socket events (SENDAPP_RATELIMIT_SOCKET): limits' moving window,
counted in this process's memory or in the shared rate-limit storage.

In memory it is counted here, not by limits' MemoryStorage. That storage starts a
threading.Timer for its expiry sweep on every hit that finds none alive, and a timer is
not alive until its thread has started. Under eventlet, starting one yields to the other
handlers, and each of them started one more: 4,029 timers for 5,000 events under load,
over 40 % of the server's CPU per message (docs/BENCHMARKS.md). A shared storage
(redis://, for several processes) keeps limits' own MovingWindowRateLimiter: every
process must count into it.
"""
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

SWEEP_EVERY = 60.0  # seconds between two drops of the windows nobody hit lately


def limiter_for(storage_uri):
    """What counts the hits: this process's own windows for memory://, limits' otherwise."""
    if urlsplit(storage_uri).scheme in MemoryStorage.STORAGE_SCHEME:
        return LocalMovingWindow()
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


class LocalMovingWindow:
    """At most `limit.amount` hits in any `limit.get_expiry()` seconds per key, as limits'
    MovingWindowRateLimiter decides it (a hit exactly one window old still counts), with
    `hit(limit, *identifiers)` as its signature. A deque of hit times per key: no thread,
    O(1) per hit; windows with no hit left in them are dropped every SWEEP_EVERY s."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.windows = {}  # key → (seconds of the window, deque of hit times)
        self.swept = clock()
        self.lock = threading.Lock()  # for async modes with OS threads; never contended here

    def hit(self, limit, *identifiers):
        now = self.clock()
        key = limit.key_for(*identifiers)
        with self.lock:
            if now - self.swept >= SWEEP_EVERY:
                self._sweep(now)
            window = self.windows.get(key)
            if window is None:
                window = self.windows[key] = (limit.get_expiry(), deque())
            seconds, times = window
            while times and times[0] < now - seconds:
                times.popleft()
            if len(times) >= limit.amount:
                return False
            times.append(now)
            return True

    def _sweep(self, now):
        self.swept = now
        idle = [key for key, (seconds, times) in self.windows.items()
                if not times or times[-1] < now - seconds]
        for key in idle:
            del self.windows[key]
