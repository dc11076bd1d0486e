"""Connection tuning: SQLite waits for another process's lock without freezing the server.

sqlite3's own busy wait sleeps inside C, which stops eventlet's single thread: one send
that waits for a backup's lock would hold up every static file and Engine.IO ping. So
SQLite's busy timeout is a few milliseconds, and a statement that finds the database
locked is retried here with the async mode's cooperative sleep (`socketio.sleep`) until
a bound, after which the error goes up and the caller answers `retry` (errors.py).
WAL journal mode lets readers go on while another connection writes.

Temporary storage is in memory. A multi-row INSERT inside a transaction (the message
writer's batch) keeps a statement journal: the original of every page the statement
changes, so a failed statement can be undone alone. Past 64 KiB SQLite spills it to a
new, deleted-on-open file in /var/tmp: an open, two writes per page and a close, for
every batch of more than a few messages (strace, docs/BENCHMARKS.md). In memory it costs
a copy; a batch is at most 256 messages, a few MB at worst.
"""
import sqlite3
import time

from sqlalchemy import event
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 5  # sqlite's blocking wait: short enough never to be noticed
FIRST_PAUSE, MAX_PAUSE = 0.02, 0.2  # seconds between attempts, doubling up to MAX_PAUSE


def sqlite_file(url):
    """The file a SQLite URL names by its path, as written; None for an in-memory database
    or a `file:` URI (whose query may name anything). Backups, the readiness probe and the
    checkpoint helper each need a plain file."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def is_locked(error):
    """True when a (possibly SQLAlchemy-wrapped) error means "another connection holds the lock"."""
    error = getattr(error, "orig", error)
    if not isinstance(error, sqlite3.OperationalError):
        return False
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(error)


def patiently(call, sleep, wait_seconds):
    """Run `call`; while the database is locked, yield with `sleep` and try again, up to
    `wait_seconds`. A failed statement changed nothing, so running it again is safe."""
    deadline = time.monotonic() + wait_seconds
    pause = FIRST_PAUSE
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not is_locked(error) or time.monotonic() + pause > deadline:
                raise
        sleep(pause)
        pause = min(pause * 2, MAX_PAUSE)


def tune(engine, sleep, wait_seconds):
    """SQLite only: WAL, foreign keys, temporary storage in memory, and lock waits that
    yield through `sleep`.

    :param sleep: the async mode's cooperative sleep (socketio.sleep), never eventlet's directly.
    :param wait_seconds: how long one statement may wait for a lock before it fails.
    """
    if engine.dialect.name != "sqlite":
        return

    def retried(call):
        return patiently(call, sleep, wait_seconds)

    @event.listens_for(engine, "connect")
    def _on_connect(connection, _record):
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        retried(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")  # statement journals: see the docstring
        cursor.close()

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, _context):
        retried(lambda: cursor.execute(statement, parameters))
        return True

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor, statement, _context):
        retried(lambda: cursor.execute(statement))
        return True

    @event.listens_for(engine, "do_executemany")
    def _executemany(cursor, statement, parameters, _context):
        retried(lambda: cursor.executemany(statement, parameters))
        return True
