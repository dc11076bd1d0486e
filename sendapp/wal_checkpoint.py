"""SQLite checkpoints in a helper process, between the message writer's transactions.

A checkpoint copies the WAL's pages back into the database file and syncs it. SQLite runs
one from inside the commit that takes the WAL past 1,000 pages, and under eventlet nothing
else runs meanwhile: at 1,000 messages a second that was five to six stalls a second of
5-8 ms each, the slowest 1 % of the writer's commits, and most of the event loop's long
stalls (docs/BENCHMARKS.md, "Checkpoints in a helper process").

So the writer's own connection never checkpoints (`wal_autocheckpoint=0`). Every
CHECKPOINT_EVERY seconds while it writes, between two transactions, the writer asks this
helper to run one (PASSIVE) and waits for it cooperatively: the event loop goes on reading,
checking and relaying meanwhile, and what arrives joins the next transaction. Because this
process commits nothing during it, the checkpoint copies the whole WAL, and the next
transaction starts the WAL over from its beginning, as after SQLite's own checkpoints: the
file stays small. A process, not a thread: a thread would need the interpreter's lock to
finish, which the busy event loop hands over only every few milliseconds.

Durability is SQLite's: commits still sync the WAL (`synchronous=FULL`); a checkpoint
only moves synced pages. Other connections keep SQLite's automatic checkpoints; with the
WAL emptied this often they seldom reach them.

If the helper cannot start or stops answering, the writer's connection checkpoints by
itself again for the life of the process (logged once).

The helper is this file run as a script (`python -I -S wal_checkpoint.py DATABASE`): it
imports neither the package nor Flask. It talks over one socket, its stdin: one byte per
checkpoint asked, one byte back ("k", or "e" when the checkpoint failed). It ends at end
of file on that socket, which the server's exit causes whatever the way, and quietly when
the server closed it with an answer in flight (a shutdown during a checkpoint).
"""
import logging
import os
import socket
import subprocess
import sys
import time

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 0.2  # seconds between checkpoints while the writer writes
ANSWER_WAIT = 30.0  # seconds the writer waits for a checkpoint; the helper is stuck past that
STOP_WAIT = 5.0  # seconds the helper is given to end at shutdown
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, restored when the helper fails
_DONE, _FAILED = b"k", b"e"


def database_file(engine, setting):
    """The database file to checkpoint from a helper, or None: only a file-backed SQLite
    database with the setting `helper` (`SENDAPP_SQLITE_CHECKPOINTS`)."""
    if setting != "helper" or engine.dialect.name != "sqlite":
        return None
    from .database import sqlite_file  # here, not above: the helper runs this file alone

    path = sqlite_file(engine.url)
    return None if path is None else os.path.abspath(path)


class Checkpointer:
    """The server's side: starts the helper on first use, asks it for checkpoints.

    Used by the single message writer task, between its transactions.
    """

    def __init__(self, database_path, every=CHECKPOINT_EVERY):
        self.database_path = database_path
        self.every = every
        self.last = time.monotonic()
        self.process = None
        self.channel = None
        self.failed = False  # the helper broke: the writer's connection checkpoints again
        self.closing = False  # close() was called since the helper started

    def prepare(self, dbapi_connection):
        """Set up the writer's own connection (never a pooled one: the setting must not
        leak to other connections)."""
        if not self.failed:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint_if_due(self, dbapi_connection):
        """Run a checkpoint when CHECKPOINT_EVERY has passed since the last one; call it
        between transactions only."""
        if self.failed or time.monotonic() - self.last < self.every:
            return
        try:
            self._ask()
        except (OSError, EOFError, subprocess.SubprocessError) as error:
            if self.closing:
                return  # closed meanwhile: the server is stopping
            self._give_up(error)
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        self.last = time.monotonic()

    def close(self):
        """Stop the helper (at shutdown, before the engine's connections close: SQLite
        removes the WAL only when no other process holds the database open)."""
        self.closing = True
        channel, process = self.channel, self.process
        self.channel = self.process = None
        if channel is not None:
            channel.close()
        if process is not None:
            try:
                process.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _ask(self):
        if self.channel is None:
            self._start()
        self.channel.sendall(_DONE)
        answer = self.channel.recv(1)
        if not answer:
            raise EOFError("the checkpoint helper ended")
        if answer != _DONE:
            log.warning("the checkpoint helper could not checkpoint (see its message above)")

    def _start(self):
        self.closing = False
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__), self.database_path],
                stdin=theirs.fileno(), stdout=subprocess.DEVNULL, close_fds=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(ANSWER_WAIT)
        self.channel = ours

    def _give_up(self, error):
        log.warning("the checkpoint helper failed (%s: %s); the message writer checkpoints "
                    "by itself from now on", error.__class__.__name__, error)
        self.failed = True
        try:
            self.close()
        except Exception as close_error:  # noqa: BLE001 - falling back must not fail
            log.warning("could not stop the checkpoint helper (%s)",
                        close_error.__class__.__name__)


# --- the helper process ---------------------------------------------------------------------
def serve(database_path, channel_fd):
    """Answer checkpoint requests on `channel_fd` until end of file, or until the server
    closes its end with an answer unread (it stops while a checkpoint runs); asks that
    arrive together share one checkpoint."""
    import sqlite3

    os.set_blocking(channel_fd, True)  # the server's green socket left it non-blocking
    connection = sqlite3.connect(database_path, timeout=0.05, isolation_level=None)
    try:
        while True:
            asked = os.read(channel_fd, 4096)
            if not asked:
                return
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                answer = _DONE
            except sqlite3.Error as error:
                print(f"WAL checkpoint failed: {error}", file=sys.stderr, flush=True)
                answer = _FAILED
            os.write(channel_fd, answer * len(asked))
    except (BrokenPipeError, ConnectionResetError):
        return  # the server closed its end with an answer in flight: it is stopping
    finally:
        connection.close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this ends
    serve(sys.argv[1], sys.stdin.fileno())
