"""Alembic migrations create exactly the schema the models describe, on SQLite and PostgreSQL."""
import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from sendapp import create_app
from sendapp.config import TestingConfig
from sendapp.extensions import db
from support.services import scratch_postgres_database


def _app(tmp_path, url):
    env = dict(os.environ, SENDAPP_INSTANCE_PATH=str(tmp_path / "instance"),
               SENDAPP_DATABASE_URL=url)
    return create_app(TestingConfig(env))


def _upgrade_and_diff(app):
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        tables = set(db.inspect(db.engine).get_table_names())
        db.engine.dispose()
    return diff, tables


EXPECTED_TABLES = {"users", "identity_keys", "login_sessions", "friendships", "messages",
                   "read_markers", "blobs", "groups", "group_members", "message_keys",
                   "alembic_version"}


def test_sqlite_upgrade_matches_models(tmp_path):
    diff, tables = _upgrade_and_diff(_app(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite3'}"))
    assert diff == []
    assert tables == EXPECTED_TABLES


def test_upgrade_is_idempotent(tmp_path):
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite3'}")
    _upgrade_and_diff(app)
    diff, _ = _upgrade_and_diff(app)
    assert diff == []


def test_postgres_upgrade_matches_models(tmp_path):
    with scratch_postgres_database() as url:
        diff, tables = _upgrade_and_diff(_app(tmp_path, url))
    assert diff == []
    assert tables == EXPECTED_TABLES


def test_flask_db_upgrade_command_creates_the_schema(tmp_path):
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert EXPECTED_TABLES <= set(db.inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_groups_upgrade_keeps_pair_messages_and_never_reuses_their_ids(tmp_path):
    """The groups migration rebuilds `messages` on SQLite: rows, ids and AUTOINCREMENT stay."""
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with app.app_context():
        upgrade(revision="4c1d7e9a2b50")
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO users (id, username, auth_hash, kdf_iterations, created, disabled) "
                "VALUES (1, 'alice', 'h', 1000, 0, 0), (2, 'bob', 'h', 1000, 0, 0)")
            connection.exec_driver_sql(
                "INSERT INTO messages (id, sender_id, recipient_id, lo_id, hi_id, cid, sk, rk, "
                "n, ct, ts) VALUES (41, 1, 2, 1, 2, 'c41', 'k', 'k', 'n', 'ct', 0), "
                "(42, 1, 2, 1, 2, 'c42', 'k', 'k', 'n', 'ct', 0)")
            connection.exec_driver_sql("DELETE FROM messages WHERE id = 42")
        upgrade()
        with db.engine.begin() as connection:
            kept = connection.exec_driver_sql("SELECT id, cid FROM messages").all()
            connection.exec_driver_sql(
                "INSERT INTO messages (sender_id, recipient_id, lo_id, hi_id, cid, sk, rk, n, "
                "ct, ts) VALUES (2, 1, 1, 2, 'c43', 'k', 'k', 'n', 'ct', 0)")
            newest = connection.exec_driver_sql("SELECT max(id) FROM messages").scalar()
        db.engine.dispose()
    assert kept == [(41, "c41")]
    assert newest == 43
