"""Bounded waiting for a condition in tests (never an unbounded loop)."""
import time


def wait_for(condition, within, interval=0.05):
    """True as soon as `condition()` holds, checking every `interval` s for `within` s;
    else the condition's last answer."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
