"""The backup's manifest: what it holds, from which schema, and each file's size and SHA-256.

Restore reads it first and checks every listed file before touching the instance, so a
truncated copy, a flipped bit or a backup of the other database kind is refused up front.
"""
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

NAME = "manifest.json"
FORMAT = "sendapp-backup"
VERSION = 1
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A refusal or failure to report as one line (the CLI prints it, no traceback)."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry(folder, relative, sha256=None):
    """One manifest row for a file already in the backup folder."""
    path = Path(folder) / relative
    return {"path": str(PurePosixPath(relative)), "size": path.stat().st_size,
            "sha256": sha256 or sha256_of(path)}


def write(folder, *, database, schema_revision, files, secret_key_included, missing_blobs):
    """Write manifest.json into `folder`.

    :param files: entry() rows of every file in the backup but the manifest itself.
    :param missing_blobs: attachments the database names whose files were deleted while the
        backup ran (their rows restore without a file; `flask blobs gc` removes them).
    """
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": database,
        "schema_revision": schema_revision,
        "secret_key_included": secret_key_included,
        "missing_blobs": missing_blobs,
        "files": files,
    }
    path = Path(folder) / NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    path.chmod(0o600)
    return manifest


def _safe_relative(text):
    """A manifest path must stay inside the backup folder."""
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts or "\\" in text:
        raise BackupError(f"The manifest names an unsafe path ({text!r}); refusing this backup.")
    return path


def read_and_verify(folder):
    """Load the manifest and check every listed file's size and SHA-256; return the manifest."""
    path = Path(folder) / NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} is not a SendApp backup: it has no {NAME}.") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BackupError(f"The backup's {NAME} is unreadable ({error}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is not a SendApp backup (its {NAME} has another format).")
    if manifest.get("version") != VERSION:
        raise BackupError(f"This backup has format version {manifest.get('version')!r}; this "
                          f"SendApp reads version {VERSION}. Use the SendApp that made it.")
    files = manifest.get("files")
    if not isinstance(files, list) or manifest.get("database") not in ("sqlite", "postgresql"):
        raise BackupError(f"The backup's {NAME} is incomplete.")
    for row in files:
        try:
            relative, size, digest = row["path"], row["size"], row["sha256"]
        except (KeyError, TypeError):
            raise BackupError(f"The backup's {NAME} is incomplete.") from None
        target = Path(folder) / _safe_relative(relative)
        if not target.is_file() or target.is_symlink():
            raise BackupError(f"The backup is missing {relative}; it is incomplete or damaged.")
        if target.stat().st_size != size or sha256_of(target) != digest:
            raise BackupError(f"Checksum mismatch for {relative}: the backup is damaged or was "
                              "changed; refusing to restore it.")
    return manifest
