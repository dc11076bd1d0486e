"""An exclusive lock on a file, across processes, for one-time set-up steps two processes
may start together (the schema upgrade, the first certificate). The kernel releases it
when its holder dies, so a crash never leaves it held."""
import fcntl
import os
from contextlib import contextmanager


@contextmanager
def exclusive(path, on_wait=None):
    """Hold an exclusive `flock` on `path` (created 0600 if missing) while the block runs.

    :param on_wait: called once, before waiting, when another process holds the lock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
