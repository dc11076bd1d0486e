"""A schema upgrade waits for the migration lock another process holds (sendapp/schema_lock.py).

The test plays the other process: it holds the lock (a PostgreSQL advisory lock, a flock on
SQLite), starts `flask_migrate.upgrade()` in a thread, sees it wait without touching the
schema, then releases the lock and sees the upgrade finish at head. Two real server
processes racing for it are in tests/live/test_concurrent_startup_live.py.
"""
import fcntl
import os
import threading

import psycopg2
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from sendapp import create_app
from sendapp.config import ROOT, TestingConfig
from sendapp.extensions import db
from sendapp.schema_lock import MIGRATION_LOCK_ID
from support.services import scratch_postgres_database

WAIT = 1.0  # seconds the upgrade must stay blocked while the lock is held
BOUND = 30.0  # seconds the upgrade may take once the lock is free

HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def _app(tmp_path, url):
    env = dict(os.environ, SENDAPP_INSTANCE_PATH=str(tmp_path / "instance"),
               SENDAPP_DATABASE_URL=url)
    return create_app(TestingConfig(env))


def _upgrade_in_thread(app):
    errors = []

    def run():
        try:
            with app.app_context():
                upgrade()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def _revision(app):
    with app.app_context():
        tables = db.inspect(db.engine).get_table_names()
        if "alembic_version" not in tables:
            return None
        with db.engine.connect() as connection:
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _waits_then_finishes(app, release):
    thread, errors = _upgrade_in_thread(app)
    thread.join(WAIT)
    assert thread.is_alive(), "the upgrade did not wait for the lock"
    assert _revision(app) is None  # nothing applied while the lock was held
    release()
    thread.join(BOUND)
    assert not thread.is_alive() and errors == []
    assert _revision(app) == HEAD


def test_sqlite_upgrade_waits_for_the_lock_file(tmp_path):
    database = tmp_path / "m.sqlite3"
    app = _app(tmp_path, f"sqlite:///{database}")
    fd = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _waits_then_finishes(app, lambda: fcntl.flock(fd, fcntl.LOCK_UN))
    finally:
        os.close(fd)
    with app.app_context():
        db.engine.dispose()


def test_postgres_upgrade_waits_for_the_advisory_lock_and_releases_it(tmp_path):
    with scratch_postgres_database() as url:
        app = _app(tmp_path, url)
        other = psycopg2.connect(url)
        other.autocommit = True
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
                _waits_then_finishes(
                    app, lambda: cursor.execute("SELECT pg_advisory_unlock(%s)",
                                                (MIGRATION_LOCK_ID,)))
                # The upgrade's pooled connection gave the lock back (it is session-level).
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
                assert cursor.fetchone()[0] is True
        finally:
            other.close()
            with app.app_context():
                db.engine.dispose()
