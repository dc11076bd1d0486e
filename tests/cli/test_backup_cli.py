"""`flask backup` and `flask restore` through app.test_cli_runner(): round trips (folder,
archive, PostgreSQL), the secret key, migrations, and every refusal without a traceback."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import psycopg2
import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from sendapp import create_app
from sendapp.backup import service
from sendapp.config import ROOT, TestingConfig
from sendapp.extensions import db
from sendapp.models import Blob, User
from support.people import https_client, login_body, register
from support.services import scratch_postgres_database, unavailable

HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
OLDER = "4c1d7e9a2b50"  # the revision before groups


def make_instance(folder, url=None, revision="head"):
    """An app on its own instance folder, its schema made by the migrations."""
    env = dict(os.environ, SENDAPP_INSTANCE_PATH=str(folder / "instance"),
               SENDAPP_CERT_DIR=str(folder / "certs"))
    env.pop("SENDAPP_BLOB_DIR", None)
    if url:
        env["SENDAPP_DATABASE_URL"] = url
    else:
        env.pop("SENDAPP_DATABASE_URL", None)
    config = TestingConfig(env)
    config.RATELIMIT_ENABLED = False
    app = create_app(config)
    if revision:
        with app.app_context():
            upgrade(revision=revision)
            db.engine.dispose()
    return app


def populate(app):
    """Alice and bob, friends; alice uploads one attachment to bob. Returns its id and bytes."""
    alice = register(https_client(app), "alice")
    bob = register(https_client(app), "bob")
    assert alice.post("/api/friends", json={"username": "bob"}).status_code == 201
    assert bob.post(f"/api/friends/{alice.id}/accept").status_code == 200
    data = os.urandom(5000)
    answer = alice.post(f"/api/blobs?to={bob.id}", data=data,
                        content_type="application/octet-stream")
    assert answer.status_code == 201, answer.get_json()
    with app.app_context():
        db.engine.dispose()
    return answer.get_json()["blob"], data


def usernames(app):
    with app.app_context():
        names = sorted(db.session.execute(db.select(User.username)).scalars())
        db.session.remove()
        db.engine.dispose()
    return names


def invoke(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def blob_path(app, blob_id):
    return Path(app.config["BLOB_DIR"]) / blob_id[:2] / blob_id


@pytest.fixture
def source(tmp_path):
    """A migrated SQLite instance holding two friends and one attachment."""
    app = make_instance(tmp_path / "source")
    blob_id, data = populate(app)
    return app, blob_id, data


@pytest.fixture
def backup_folder(source, tmp_path):
    app, _, _ = source
    dest = tmp_path / "backup"
    result = invoke(app, "backup", str(dest))
    assert result.exit_code == 0, result.output
    return dest


# --- round trips ------------------------------------------------------------------------------
def test_folder_backup_holds_database_attachment_and_a_verifiable_manifest(source, tmp_path):
    app, blob_id, data = source
    dest = tmp_path / "backup"
    result = invoke(app, "backup", str(dest))
    assert result.exit_code == 0, result.output
    assert "1 attachment(s)" in result.output and "holds no secret key" in result.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert (manifest["format"], manifest["version"], manifest["database"]) == (
        "sendapp-backup", 1, "sqlite")
    assert manifest["schema_revision"] == HEAD and manifest["secret_key_included"] is False
    paths = {row["path"]: row for row in manifest["files"]}
    assert set(paths) == {"database.sqlite3", f"blobs/{blob_id[:2]}/{blob_id}"}
    assert (dest / paths[f"blobs/{blob_id[:2]}/{blob_id}"]["path"]).read_bytes() == data
    assert not (dest / "secret_key").exists()
    assert oct(dest.stat().st_mode & 0o777) == "0o700"
    with sqlite3.connect(dest / "database.sqlite3") as copy:
        assert copy.execute("SELECT count(*) FROM users").fetchone()[0] == 2
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup")]  # no leftovers


def test_backup_copies_only_attachments_the_database_names(source, tmp_path):
    """An upload still being written (no row yet) and a stray file stay out; a row whose
    file is gone is counted, not fatal."""
    app, blob_id, _ = source
    root = Path(app.config["BLOB_DIR"])
    (root / blob_id[:2] / ".upload-half").write_bytes(b"partial")
    (root / "zz").mkdir()
    (root / "zz" / "zzNoRowForThisFile0000").write_bytes(b"stray")
    dest = tmp_path / "backup"
    assert invoke(app, "backup", str(dest)).exit_code == 0
    copied = sorted(str(p.relative_to(dest)) for p in (dest / "blobs").rglob("*") if p.is_file())
    assert copied == [f"blobs/{blob_id[:2]}/{blob_id}"]
    blob_path(app, blob_id).unlink()
    result = invoke(app, "backup", str(tmp_path / "second"))
    assert result.exit_code == 0, result.output
    assert "0 attachment(s)" in result.output and "1 attachment(s) were deleted" in result.output
    assert json.loads((tmp_path / "second" / "manifest.json").read_text())["missing_blobs"] == 1


def test_restore_into_a_fresh_instance_lets_the_users_log_in(backup_folder, source, tmp_path):
    _, blob_id, data = source
    fresh = make_instance(tmp_path / "fresh", revision=None)
    result = invoke(fresh, "restore", str(backup_folder))
    assert result.exit_code == 0, result.output
    assert "Restored the sqlite database and 1 attachment(s)" in result.output
    assert usernames(fresh) == ["alice", "bob"]
    assert blob_path(fresh, blob_id).read_bytes() == data
    bob = https_client(fresh)
    csrf = bob.get("/api/csrf").get_json()["csrf_token"]
    login = bob.post("/api/login", json=login_body("bob"), headers={"X-CSRFToken": csrf})
    assert login.status_code == 200
    assert bob.get(f"/api/blobs/{blob_id}").data == data
    with fresh.app_context():
        assert db.session.get(Blob, blob_id).size == len(data)
        db.session.remove()
        db.engine.dispose()


def test_archive_with_secret_key_restores_the_key_file(source, tmp_path, monkeypatch):
    monkeypatch.delenv("SENDAPP_SECRET_KEY", raising=False)
    app, blob_id, data = source
    archive = tmp_path / "nightly.tar.gz"
    result = invoke(app, "backup", str(archive), "--include-secret-key")
    assert result.exit_code == 0, result.output
    assert "includes the secret key" in result.output
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive) as packed:
        assert {"manifest.json", "database.sqlite3", "secret_key"} <= set(packed.getnames())
    fresh = make_instance(tmp_path / "fresh", revision=None)
    result = invoke(fresh, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "existing login sessions stay valid" in result.output
    key_file = Path(fresh.config["INSTANCE_PATH"]) / "secret_key"
    assert key_file.read_text() == app.config["SECRET_KEY"]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert blob_path(fresh, blob_id).read_bytes() == data
    assert usernames(fresh) == ["alice", "bob"]
    assert not [p for p in Path(fresh.config["INSTANCE_PATH"]).iterdir()
                if p.name.startswith(".")]  # the unpacked copy is gone


def test_backup_of_an_older_schema_is_migrated_after_restore(tmp_path):
    old = make_instance(tmp_path / "old", revision=OLDER)
    dest = tmp_path / "backup"
    assert invoke(old, "backup", str(dest)).exit_code == 0
    assert json.loads((dest / "manifest.json").read_text())["schema_revision"] == OLDER
    fresh = make_instance(tmp_path / "fresh", revision=None)
    result = invoke(fresh, "restore", str(dest))
    assert result.exit_code == 0, result.output
    assert f"Migrated the database from {OLDER}" in result.output
    with sqlite3.connect(Path(fresh.config["INSTANCE_PATH"]) / "sendapp.sqlite3") as restored:
        assert restored.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        assert restored.execute("SELECT count(*) FROM groups").fetchone()[0] == 0


def test_force_replaces_a_database_that_holds_data(backup_folder, tmp_path):
    other = make_instance(tmp_path / "other")
    register(https_client(other), "carol")
    with other.app_context():
        db.engine.dispose()
    refused = invoke(other, "restore", str(backup_folder))
    assert refused.exit_code == 1
    assert "already holds data" in refused.output and "--force" in refused.output
    assert usernames(other) == ["carol"]
    forced = invoke(other, "restore", str(backup_folder), "--force")
    assert forced.exit_code == 0, forced.output
    assert usernames(other) == ["alice", "bob"]


def test_a_failed_restore_leaves_the_old_data_in_place(backup_folder, tmp_path, monkeypatch):
    other = make_instance(tmp_path / "other")
    blob_id, data = populate(other)
    instance = Path(other.config["INSTANCE_PATH"])
    before = sorted(p.name for p in instance.iterdir())

    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(service, "_upgrade", broken)
    monkeypatch.setattr(service, "_needs_upgrade", lambda revision: True)
    with other.app_context(), pytest.raises(OSError, match="disk full"):
        service.restore_backup(backup_folder, force=True)
    assert usernames(other) == ["alice", "bob"]
    assert blob_path(other, blob_id).read_bytes() == data  # the old attachment, not the backup's
    assert sorted(p.name for p in instance.iterdir()) == before  # nothing staged is left


# --- refusals ---------------------------------------------------------------------------------
def test_backup_refuses_an_existing_destination(source, tmp_path):
    app, _, _ = source
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    result = invoke(app, "backup", str(dest))
    assert result.exit_code == 1 and "already exists" in result.output
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("make_source, message", [
    (lambda tmp: tmp / "nowhere", "There is no backup"),
    (lambda tmp: tmp.joinpath("empty").mkdir() or tmp / "empty", "it has no manifest.json"),
    (lambda tmp: tmp.joinpath("junk.tar.gz").write_bytes(b"not gzip") and tmp / "junk.tar.gz",
     "is not a readable backup archive"),
])
def test_restore_refuses_what_is_not_a_backup(tmp_path, make_source, message):
    fresh = make_instance(tmp_path / "fresh", revision=None)
    result = invoke(fresh, "restore", str(make_source(tmp_path)))
    assert result.exit_code == 1
    assert message in result.output


def _edit_manifest(folder, change):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "manifest.json").write_text("{\"format\": "), "manifest.json is unreadable"),
    (lambda f: _edit_manifest(f, lambda m: m.update(version=99)), "format version 99"),
    (lambda f: _edit_manifest(f, lambda m: m.update(database="postgresql")),
     "holds a PostgreSQL database, but this instance uses SQLite"),
    (lambda f: _edit_manifest(f, lambda m: m.update(schema_revision="ffffffffffff")),
     "is unknown to this SendApp"),
    (lambda f: _edit_manifest(f, lambda m: m["files"].append(
        {"path": "../outside", "size": 1, "sha256": "0" * 64})), "unsafe path"),
    (lambda f: (f / "database.sqlite3").unlink(), "missing database.sqlite3"),
])
def test_restore_refuses_a_damaged_backup(backup_folder, tmp_path, damage, message):
    damage(backup_folder)
    fresh = make_instance(tmp_path / "fresh", revision=None)
    result = invoke(fresh, "restore", str(backup_folder))
    assert result.exit_code == 1
    assert message in result.output
    assert not Path(fresh.config["INSTANCE_PATH"], "sendapp.sqlite3").exists()


def test_restore_refuses_a_flipped_bit_in_an_attachment(backup_folder, source, tmp_path):
    _, blob_id, _ = source
    blob = backup_folder / "blobs" / blob_id[:2] / blob_id
    raw = bytearray(blob.read_bytes())
    raw[100] ^= 1
    blob.write_bytes(bytes(raw))
    fresh = make_instance(tmp_path / "fresh", revision=None)
    result = invoke(fresh, "restore", str(backup_folder))
    assert result.exit_code == 1
    assert f"Checksum mismatch for blobs/{blob_id[:2]}/{blob_id}" in result.output
    assert not blob_path(fresh, blob_id).exists()


HOLD_OPEN = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("PRAGMA journal_mode=WAL")
connection.execute("SELECT count(*) FROM users").fetchone()
print("open", flush=True)
sys.stdin.readline()
"""


def test_restore_refuses_while_another_process_has_the_database_open(backup_folder, tmp_path):
    other = make_instance(tmp_path / "other")
    database = Path(other.config["INSTANCE_PATH"]) / "sendapp.sqlite3"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(database)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        result = invoke(other, "restore", str(backup_folder), "--force")
        assert result.exit_code == 1
        assert "stop the SendApp server" in result.output
    finally:
        holder.communicate("\n", timeout=10)
    assert usernames(other) == []
    assert invoke(other, "restore", str(backup_folder), "--force").exit_code == 0


# --- PostgreSQL -------------------------------------------------------------------------------
def test_postgres_round_trip_with_pg_dump_and_pg_restore(tmp_path):
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            unavailable(tool, "not on PATH")
    with scratch_postgres_database() as source_url, scratch_postgres_database() as target_url:
        app = make_instance(tmp_path / "pg-source", url=source_url)
        blob_id, data = populate(app)
        archive = tmp_path / "pg.tar.gz"
        result = invoke(app, "backup", str(archive))
        assert result.exit_code == 0, result.output
        assert "postgresql database" in result.output
        target = make_instance(tmp_path / "pg-target", url=target_url)
        result = invoke(target, "restore", str(archive))
        assert result.exit_code == 0, result.output
        assert usernames(target) == ["alice", "bob"]
        assert blob_path(target, blob_id).read_bytes() == data
        refused = invoke(target, "restore", str(archive))
        assert refused.exit_code == 1 and "already holds data" in refused.output
        server = psycopg2.connect(target_url)  # stands in for a running server's pool
        try:
            busy = invoke(target, "restore", str(archive), "--force")
        finally:
            server.close()
        assert busy.exit_code == 1 and "1 other connection(s)" in busy.output
        assert invoke(target, "restore", str(archive), "--force").exit_code == 0
        assert usernames(target) == ["alice", "bob"]
        sqlite_instance = make_instance(tmp_path / "sqlite", revision=None)
        wrong = invoke(sqlite_instance, "restore", str(archive))
        assert wrong.exit_code == 1 and "holds a PostgreSQL database" in wrong.output
        with app.app_context(), target.app_context():
            db.engine.dispose()
