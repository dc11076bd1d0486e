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
                   "read_markers", "blobs", "alembic_version"}


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
