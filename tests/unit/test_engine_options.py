"""Which engines ping a pooled connection before each use (config.py: _engine_options)."""
from sendapp.config import Config


def _options(tmp_path, url=None):
    env = {"SENDAPP_INSTANCE_PATH": str(tmp_path)}
    if url:
        env["SENDAPP_DATABASE_URL"] = url
    return Config(env).SQLALCHEMY_ENGINE_OPTIONS


def test_a_sqlite_file_is_not_pinged_before_each_use(tmp_path):
    assert not _options(tmp_path).get("pool_pre_ping")


def test_a_postgresql_server_is_pinged_before_each_use(tmp_path):
    assert _options(tmp_path, "postgresql://127.0.0.1/test")["pool_pre_ping"] is True
