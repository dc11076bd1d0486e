"""Per-user attachment quota: the bytes of every blob a user uploaded and the server still keeps."""
from flask import current_app
from sqlalchemy import func

from ..errors import ApiError
from ..extensions import db
from ..models import Blob


def used_bytes(user_id):
    return db.session.execute(
        db.select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.uploader_id == user_id)
    ).scalar()


def upload_limit(user_id):
    """(bytes the next upload may have, the refusal for one byte more).

    The smaller of the per-file limit and what is left of the user's quota decides.
    """
    per_file = current_app.config["MAX_BLOB_BYTES"]
    quota = current_app.config["BLOB_QUOTA_BYTES"]
    left = max(quota - used_bytes(user_id), 0)
    if left < per_file:
        return left, ApiError(
            "quota_exceeded",
            f"your attachments use {quota - left} of your {quota} bytes; "
            f"this upload would need more than the {left} bytes left")
    return per_file, ApiError("too_large", f"attachments are limited to {per_file} bytes")


def require_room(user_id, size):
    """Refuse when `size` more bytes would take the user over the quota. Checked again once the
    upload is on disk: narrows (does not close) the window for parallel uploads of one user."""
    quota = current_app.config["BLOB_QUOTA_BYTES"]
    used = used_bytes(user_id)
    if used + size > quota:
        raise ApiError("quota_exceeded",
                       f"your attachments use {used} of your {quota} bytes; this one needs {size}")
