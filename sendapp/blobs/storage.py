"""Blob files under BLOB_DIR: streamed to a temporary file, then renamed into place."""
import os
import secrets
import tempfile
from pathlib import Path

from flask import current_app

from ..errors import ApiError

CHUNK = 64 * 1024


def new_blob_id():
    return secrets.token_urlsafe(16)


def path_for(blob_id):
    """Two-level fan-out keeps folders small; ids are urlsafe so they are safe file names."""
    return Path(current_app.config["BLOB_DIR"]) / blob_id[:2] / blob_id


def write_stream(blob_id, stream, limit):
    """Copy the request stream to disk; refuse more than `limit` bytes. Returns the size."""
    target = path_for(blob_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise ApiError("too_large", f"attachments are limited to {limit} bytes")
                out.write(chunk)
        if size == 0:
            raise ApiError("bad_request", "the upload is empty")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


def delete(blob_id):
    path_for(blob_id).unlink(missing_ok=True)
