"""PostgreSQL: pg_dump (custom format) at an exported snapshot, and pg_restore in one transaction.

The backup reads the schema revision and the attachment ids inside a REPEATABLE READ
transaction, exports its snapshot, and has pg_dump dump exactly that snapshot, so the
attachment files copied afterwards are the ones the dump references.
"""
import shutil
import subprocess

from sqlalchemy.engine import make_url

from .manifest import BackupError

TOOL_TIMEOUT = 6 * 3600  # seconds; a dump of a large database on a small box is slow
# libpq settings a database URL's query string may carry, passed on as PG* variables.
QUERY_SETTINGS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout",
                  "application_name", "target_session_attrs")
HOWTO = "see \"Backup and restore\" in docs/DEPLOY.md"


def libpq_environment(url, base):
    """The PG* variables naming the database of a SQLAlchemy URL (no password on a command
    line, where `ps` would show it)."""
    parsed = make_url(url)
    env = dict(base)
    for name, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port),
                        ("PGUSER", parsed.username), ("PGPASSWORD", parsed.password),
                        ("PGDATABASE", parsed.database)):
        if value is not None:
            env[name] = str(value)
    for key in QUERY_SETTINGS:
        if key in parsed.query:
            env["PG" + key.upper()] = str(parsed.query[key])
    return env


def _tool(name):
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools (the "
                          f"server's major version or newer), or run {name} yourself; {HOWTO}.")
    return path


def _connect(url):
    import psycopg2

    parsed = make_url(url).set(drivername="postgresql")
    try:
        return psycopg2.connect(parsed.render_as_string(hide_password=False), connect_timeout=10)
    except psycopg2.Error as error:
        raise BackupError(f"Cannot reach PostgreSQL: {str(error).strip()}") from None


def _run(command, env, what):
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {TOOL_TIMEOUT} seconds.") from None
    if done.returncode != 0:
        detail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BackupError(f"{what} failed (exit {done.returncode}): {detail}")


def dump(url, target, environ):
    """pg_dump the database to `target`; return (alembic revision or None, blob ids)."""
    pg_dump = _tool("pg_dump")
    connection = _connect(url)
    try:
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            revision = None
            cursor.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
            if cursor.fetchone()[0]:
                cursor.execute("SELECT version_num FROM alembic_version")
                row = cursor.fetchone()
                revision = row[0] if row else None
            cursor.execute("SELECT to_regclass('blobs') IS NOT NULL")
            blob_ids = []
            if cursor.fetchone()[0]:
                cursor.execute("SELECT id FROM blobs")
                blob_ids = [row[0] for row in cursor.fetchall()]
        # The exporting transaction stays open until pg_dump has taken the snapshot.
        _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
             libpq_environment(url, environ), "pg_dump")
    finally:
        connection.rollback()
        connection.close()
    return revision, blob_ids


def other_sessions(url):
    """How many other connections the database has (a running server keeps some open)."""
    connection = _connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                           "AND backend_type = 'client backend'")  # not autovacuum workers
            return cursor.fetchone()[0]
    finally:
        connection.close()


def has_data(url):
    """True when any table of the public schema but alembic_version holds a row."""
    from psycopg2 import sql

    connection = _connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE "
                           "table_schema = 'public' AND table_type = 'BASE TABLE' "
                           "AND table_name <> 'alembic_version'")
            for (name,) in cursor.fetchall():
                cursor.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(name)))
                if cursor.fetchone():
                    return True
        return False
    finally:
        connection.close()


def check(dump_path, environ):
    """Refuse a dump pg_restore cannot list (damaged, or not a custom-format dump)."""
    _run([_tool("pg_restore"), "--list", str(dump_path)], environ, "Reading the dump")


def restore(url, dump_path, environ):
    """Replace the database's objects with the dump's, all or nothing (one transaction)."""
    env = libpq_environment(url, environ)
    _run([_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--clean",
          "--if-exists", "--no-owner", "--no-privileges", f"--dbname={env['PGDATABASE']}",
          str(dump_path)], env, "pg_restore")
