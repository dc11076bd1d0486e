"""One schema upgrade at a time, across processes.

Alembic reads the database's revision, then applies what is missing. Two processes
doing that together on a fresh database both create the tables, and the loser dies on
`alembic_version`'s unique key. `migrations/env.py` holds this lock around the whole
upgrade (the server's SENDAPP_AUTO_MIGRATE and `flask db upgrade` alike), so a second
process waits, then reads the new revision and finds nothing to do.

- PostgreSQL: a session-level advisory lock, MIGRATION_LOCK_ID, on the connection that
  runs the migrations (the message writer's lock is chat/writer.py's WRITER_ORDER_LOCK).
  A process that dies while holding it loses its session and so the lock.
- SQLite: an exclusive `flock` on `<database file>.migrate-lock` beside the database,
  released by the kernel when the process dies. An in-memory database needs none.
- Anything else: no lock.

Waiting blocks the calling thread; it happens before the server serves anything.
"""
import logging
from contextlib import contextmanager

from sqlalchemy import text

from . import file_lock

MIGRATION_LOCK_ID = 727273  # PostgreSQL advisory lock id; only schema upgrades take it

WAITING = "another process is upgrading the database schema; waiting for it"

log = logging.getLogger("sendapp.migrations")


@contextmanager
def migration_lock(connection, logger=log):
    """Hold the schema-upgrade lock for `connection`'s database while the block runs.

    :param logger: where to say that another process holds the lock (once, before waiting).
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        with _advisory_lock(connection, logger):
            yield
    elif dialect == "sqlite" and _sqlite_file(connection):
        with file_lock.exclusive(_sqlite_file(connection) + ".migrate-lock",
                                 on_wait=lambda: logger.info(WAITING)):
            yield
    else:
        yield


def _sqlite_file(connection):
    database = connection.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return database


@contextmanager
def _advisory_lock(connection, logger):
    """Session-level, so the lock outlives the transactions Alembic begins and commits."""
    got = connection.execute(text("SELECT pg_try_advisory_lock(:id)"),
                             {"id": MIGRATION_LOCK_ID}).scalar()
    if not got:
        logger.info(WAITING)
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.commit()  # Alembic must begin its own transaction (it commits only that one)
    try:
        yield
    finally:
        _advisory_unlock(connection)


def _advisory_unlock(connection):
    """Release the lock; if that fails, drop the connection, which ends its session and lock
    (a pooled connection would otherwise keep it held for as long as the process lives)."""
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
    except Exception as error:  # keep the upgrade's own error, if any, the one raised
        log.warning("could not release the schema-upgrade lock (%s); dropping the connection",
                    error.__class__.__name__)
        connection.invalidate()
