"""Blob files under BLOB_DIR: streamed to a temporary file, then renamed into place."""
import os
import secrets
import tempfile
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from ..errors import ApiError

CHUNK = 64 * 1024


def new_blob_id():
    return secrets.token_urlsafe(16)


def path_for(blob_id):
    """Two-level fan-out keeps folders small; ids are urlsafe so they are safe file names."""
    return Path(current_app.config["BLOB_DIR"]) / blob_id[:2] / blob_id


def write_stream(blob_id, stream, limit, excess):
    """Copy the request stream to disk; raise `excess` (an ApiError) past `limit` bytes.
    Returns the size."""
    target = path_for(blob_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise excess
                out.write(chunk)
        if size == 0:
            raise ApiError("bad_request", _("the upload is empty"))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


def delete(blob_id):
    path_for(blob_id).unlink(missing_ok=True)


TEMP_PREFIX = ".upload-"  # mkstemp's prefix above: a file still being written (or abandoned)


def files_on_disk():
    """(blob id or temporary name, path, mtime) of every file under BLOB_DIR's fan-out folders."""
    root = Path(current_app.config["BLOB_DIR"])
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in folder.iterdir():
            try:
                if path.is_file() and not path.is_symlink():
                    found.append((path.name, path, path.stat().st_mtime))
            except FileNotFoundError:  # removed meanwhile (an upload's rename, a delete)
                continue
    return found
