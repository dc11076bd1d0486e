"""Backup and restore, step by step; the CLI (sendapp/cli/backup.py) only parses and prints.

Backup: database first (one consistent snapshot), then exactly the attachment files that
snapshot references, then the manifest; all in a private folder beside DEST, renamed (or
packed) into DEST only once complete. Restore: verify everything, stage the database and
attachments beside their final places, then rename them in; until the last step the old
data stays whole, and a failure puts it back.
"""
import os
import re
import shutil
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy.engine import make_url

from ..config import ROOT
from ..database import sqlite_file
from . import files, manifest, postgres, sqlite
from .manifest import BackupError

DATABASE_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
BLOBS = "blobs"
SECRET_KEY = "secret_key"
_BLOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def database_kind(url):
    backend = make_url(url).get_backend_name()
    if backend not in DATABASE_FILES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {backend}.")
    return backend


def _sqlite_path(url):
    database = sqlite_file(url)
    if database is None:
        raise BackupError("Backups need the SQLite database in a file named by its path.")
    return Path(database).resolve()


# --- backup -----------------------------------------------------------------------------------
def make_backup(dest, include_secret_key=False, environ=None):
    """Write a backup of the current app's instance to `dest` (a new folder, or a .tar.gz).

    :returns: the manifest written.
    """
    config = current_app.config
    dest = Path(dest).absolute()
    if dest.exists() or dest.is_symlink():
        raise BackupError(f"{dest} already exists; a backup never overwrites anything. "
                          "Choose a new name.")
    if not dest.parent.is_dir():
        raise BackupError(f"The folder {dest.parent} does not exist.")
    kind = database_kind(config["SQLALCHEMY_DATABASE_URI"])
    work = files.sibling_folder(dest, "partial")
    try:
        result = _fill(work, kind, config, include_secret_key,
                       os.environ if environ is None else environ)
        if files.is_archive(dest):
            files.write_archive(work, dest)
        else:
            os.rename(work, dest)
        return result
    finally:
        files.remove(work)


def _fill(work, kind, config, include_secret_key, environ):
    database = work / DATABASE_FILES[kind]
    url = config["SQLALCHEMY_DATABASE_URI"]
    if kind == "sqlite":
        sqlite.snapshot(_sqlite_path(url), database)
        revision, blob_ids = sqlite.facts(database)
    else:
        revision, blob_ids = postgres.dump(url, database, environ)
        database.chmod(0o600)
    rows = [manifest.entry(work, database.name)]
    rows += _copy_blobs(blob_ids, Path(config["BLOB_DIR"]), work / BLOBS)
    missing = len(blob_ids) - (len(rows) - 1)
    if include_secret_key:
        key_file = work / SECRET_KEY
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(config["SECRET_KEY"])
        rows.append(manifest.entry(work, SECRET_KEY))
    return manifest.write(work, database=kind, schema_revision=revision, files=rows,
                          secret_key_included=include_secret_key, missing_blobs=missing)


def _copy_blobs(blob_ids, source_root, target_root):
    """Copy the files of the snapshot's attachment rows (never an upload still being written:
    those have no row yet). A file deleted since the snapshot is left out and counted."""
    rows = []
    for blob_id in sorted(set(blob_ids)):
        if not _BLOB_ID.fullmatch(blob_id):
            continue  # not a name storage.py makes; never follow it outside the folder
        relative = Path(BLOBS) / blob_id[:2] / blob_id
        target = target_root / blob_id[:2] / blob_id
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            digest = files.copy_hashing(source_root / blob_id[:2] / blob_id, target)
        except FileNotFoundError:
            continue
        rows.append(manifest.entry(target_root.parent, relative, sha256=digest))
    return rows


# --- restore ----------------------------------------------------------------------------------
def restore_backup(src, force=False, environ=None):
    """Put the backup at `src` (folder or .tar.gz) back into the current app's instance.

    :param force: replace a database that already holds data.
    :returns: (manifest, notes) where notes are lines worth telling the operator.
    """
    config = current_app.config
    environ = os.environ if environ is None else environ
    src = Path(src).absolute()
    if not src.exists():
        raise BackupError(f"There is no backup at {src}.")
    unpacked = None
    try:
        if src.is_file():
            unpacked = files.sibling_folder(Path(config["INSTANCE_PATH"]) / "restore", "unpack")
            files.unpack_archive(src, unpacked)
        folder = unpacked or src
        found = manifest.read_and_verify(folder)
        return found, _restore_verified(folder, found, config, force, environ)
    finally:
        if unpacked is not None:
            files.remove(unpacked)


def _migrations():
    return ScriptDirectory(str(ROOT / "migrations"))


def _needs_upgrade(revision):
    """True when the backup's schema is older than this code's; refuse a newer or unknown one."""
    if revision is None:
        return False
    script = _migrations()
    if revision not in {r.revision for r in script.walk_revisions()}:
        raise BackupError(f"The backup's schema revision {revision} is unknown to this SendApp "
                          "(made by a newer version?). Restore it with that version.")
    return revision not in script.get_heads()


def _restore_verified(folder, found, config, force, environ):
    url = config["SQLALCHEMY_DATABASE_URI"]
    kind = database_kind(url)
    if found["database"] != kind:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(f"This backup holds a {names[found['database']]} database, but this "
                          f"instance uses {names[kind]} (SENDAPP_DATABASE_URL). Restore it into "
                          "an instance of the same kind.")
    upgrade = _needs_upgrade(found["schema_revision"])
    database = folder / DATABASE_FILES[kind]
    listed = {row["path"] for row in found["files"]}
    if DATABASE_FILES[kind] not in listed:
        raise BackupError("The backup's manifest lists no database file; it is incomplete.")
    if kind == "sqlite":
        target = _sqlite_path(url)
        if sqlite.in_use(target):
            raise BackupError(f"Another process has {target} open: stop the SendApp server "
                              "(every process) before restoring.")
        present = sqlite.has_data(target)
        sqlite.check(database)
    else:
        sessions = postgres.other_sessions(url)
        if sessions:
            raise BackupError(f"The database has {sessions} other connection(s): stop the "
                              "SendApp server (every process) before restoring.")
        present = postgres.has_data(url)
        postgres.check(database, environ)
    if present and not force:
        raise BackupError("The database already holds data. Restoring replaces all of it; run "
                          "again with --force to do that (nothing was changed).")
    return _swap_in(folder, found, config, kind, upgrade, environ)


def _swap_in(folder, found, config, kind, upgrade, environ):
    """Stage, rename into place, migrate; undo everything if any step fails."""
    from ..extensions import db

    url = config["SQLALCHEMY_DATABASE_URI"]
    blob_dir = Path(config["BLOB_DIR"])
    undo, leftovers, notes = [], [], []
    finished = False
    staged_blobs = files.sibling_folder(blob_dir, "restore")
    staged_db = None
    try:
        _stage_blobs(folder, found, staged_blobs)
        if kind == "sqlite":
            target = _sqlite_path(url)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            staged_db = files.aside_name(target, "restore")
            files.copy_hashing(folder / DATABASE_FILES[kind], staged_db)
        old_blobs = files.aside_name(blob_dir, "old")
        if blob_dir.exists():
            os.rename(blob_dir, old_blobs)
            leftovers.append(old_blobs)
        undo.append(lambda: _put_back(blob_dir, old_blobs))
        os.rename(staged_blobs, blob_dir)
        if kind == "sqlite":
            undo_db, moved = sqlite.install(staged_db, target)
            undo.append(undo_db)
            leftovers += moved
        else:
            postgres.restore(url, folder / DATABASE_FILES[kind], environ)
        db.engine.dispose()
        if upgrade:
            _upgrade(kind, found["schema_revision"])
            notes.append(f"Migrated the database from {found['schema_revision']} to the "
                         "current schema.")
        if found["secret_key_included"]:
            notes.append(_restore_secret_key(folder, Path(config["INSTANCE_PATH"]), environ))
        finished = True
    except _CommittedError as error:
        finished = True  # PostgreSQL holds the restored data: keep its attachments too
        raise BackupError(str(error)) from None
    finally:
        db.engine.dispose()
        if finished:
            for path in leftovers:
                files.remove(path)
        else:
            for step in reversed(undo):
                step()
        files.remove(staged_blobs)
        if staged_db is not None:
            files.remove(staged_db)
    if found.get("missing_blobs"):
        notes.append(f"{found['missing_blobs']} attachment(s) were deleted while the backup ran; "
                     "their rows have no file (`flask blobs gc` tidies them).")
    return notes


class _CommittedError(Exception):
    """A failure after PostgreSQL committed the restore: nothing to undo."""


def _upgrade(kind, revision):
    """Run the migrations from the backup's revision to this code's."""
    from flask_migrate import upgrade

    from ..extensions import db

    try:
        upgrade()
    except Exception as error:  # alembic raises many kinds; each means "not migrated"
        if kind == "postgresql":
            raise _CommittedError(f"The database was restored at {revision} but migrating it "
                                  f"failed ({error}); fix that and run `flask db upgrade`.")
        raise BackupError(f"Migrating the restored database failed ({error}); the old data "
                          "was put back.") from None
    finally:
        db.engine.dispose()


def _put_back(blob_dir, old_blobs):
    files.remove(blob_dir)
    if old_blobs.exists():
        os.rename(old_blobs, blob_dir)


def _stage_blobs(folder, found, staged):
    """Copy the backup's attachment files into the staging folder, checking each digest again."""
    for row in found["files"]:
        parts = Path(row["path"]).parts
        if parts[0] != BLOBS or len(parts) != 3:
            continue
        target = staged / parts[1] / parts[2]
        target.parent.mkdir(mode=0o700, exist_ok=True)
        if files.copy_hashing(folder / row["path"], target) != row["sha256"]:
            raise BackupError(f"{row['path']} changed while it was being restored.")


def _restore_secret_key(folder, instance, environ):
    """Install the backup's secret key as the instance's key file (sessions survive)."""
    key_file = instance / SECRET_KEY
    staged = files.aside_name(key_file, "restore")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(folder / SECRET_KEY, "rb") as inp:
        shutil.copyfileobj(inp, out)
    os.replace(staged, key_file)
    if environ.get("SENDAPP_SECRET_KEY"):
        return (f"Restored the secret key to {key_file}, but SENDAPP_SECRET_KEY is set and "
                "wins: unset it for existing sessions to stay valid.")
    return f"Restored the secret key to {key_file}: existing login sessions stay valid."
