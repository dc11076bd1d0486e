"""SQLite: a consistent online copy through sqlite3's backup API, and putting one back.

The copy runs in a single backup step, so it holds one read transaction: in WAL mode the
running server keeps writing meanwhile, and the copy is the database as of that instant.
"""
import fcntl
import os
import sqlite3
from pathlib import Path

from . import files
from .manifest import BackupError

BUSY_MS = 10_000  # a reader waits for a lock only while a checkpoint or recovery runs
# SQLite's "dead man switch" byte in the -shm file: every connection to a WAL database
# holds a shared lock on it while it is open (os_unix.c UNIX_SHM_DMS; walformat.html).
SHM_DMS_OFFSET = 128


def _connect(path):
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_MS / 1000,
                           isolation_level=None)


def snapshot(db_path, target):
    """Copy the live database at `db_path` into the new file `target` (rollback journal mode,
    so it is one self-contained file), and check the copy."""
    if not Path(db_path).is_file():
        raise BackupError(f"There is no database at {db_path}; nothing to back up.")
    source = _connect(db_path)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        source.backup(copy)  # pages=-1: one step, one read transaction
        copy.execute("PRAGMA journal_mode=DELETE")
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        raise BackupError(f"Copying the SQLite database failed: {error}") from None
    finally:
        copy.close()
        source.close()
    os.chmod(target, 0o600)
    if verdict != "ok":
        raise BackupError(f"The database copy fails SQLite's check ({verdict}); the live "
                          "database may be damaged.")


def _tables(connection):
    return {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}


def facts(path):
    """(alembic revision or None, blob ids) of a database file."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = _tables(connection)
        revision = None
        if "alembic_version" in tables:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        blob_ids = ([row[0] for row in connection.execute("SELECT id FROM blobs")]
                    if "blobs" in tables else [])
    finally:
        connection.close()
    return revision, blob_ids


def check(path):
    """Refuse a backup's database file that SQLite cannot read."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as error:
        verdict = str(error)
    if verdict != "ok":
        raise BackupError(f"The backup's database is not a sound SQLite file ({verdict}).")


def in_use(db_path):
    """True when another process has the database open (a running server).

    Checked before this process opens the database itself: closing the probe's descriptor
    drops every POSIX lock this process holds on the -shm file.
    """
    shm = Path(f"{db_path}-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, SHM_DMS_OFFSET)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, SHM_DMS_OFFSET)
        return False
    finally:
        os.close(fd)


def has_data(db_path):
    """True when the database exists and any table but alembic_version holds a row."""
    if not Path(db_path).is_file() or Path(db_path).stat().st_size == 0:
        return False
    try:
        connection = _connect(db_path)
        try:
            return any(connection.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone()
                       for name in _tables(connection) - {"alembic_version"})
        finally:
            connection.close()
    except sqlite3.Error:
        return True  # unreadable: treat as data someone may want, so --force is needed


def install(staged, db_path):
    """Move the old database (and its -wal/-shm) aside, rename the staged copy into place.

    Returns an undo function that puts the old files back and a list of what was set aside.
    """
    db_path = Path(db_path)
    moved = []
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        if path.exists():
            aside = files.aside_name(path, "old")
            os.rename(path, aside)
            moved.append((aside, path))

    def undo():
        for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            files.remove(path)
        for aside, original in moved:
            os.rename(aside, original)

    try:
        os.rename(staged, db_path)
    except OSError:
        undo()
        raise
    return undo, [aside for aside, _ in moved]
