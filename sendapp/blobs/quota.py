"""Per-user attachment quota: the bytes of every blob a user uploaded and the server still keeps."""
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
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
            ngettext("your attachments use %(used)d of your %(quota)d bytes; this upload would "
                     "need more than the %(num)d byte left",
                     "your attachments use %(used)d of your %(quota)d bytes; this upload would "
                     "need more than the %(num)d bytes left",
                     left, used=quota - left, quota=quota))
    return per_file, ApiError("too_large", ngettext("attachments are limited to %(num)d byte",
                                                    "attachments are limited to %(num)d bytes",
                                                    per_file))


def require_room(user_id, size):
    """Refuse when `size` more bytes would take the user over the quota. Checked again once the
    upload is on disk: narrows (does not close) the window for parallel uploads of one user."""
    quota = current_app.config["BLOB_QUOTA_BYTES"]
    used = used_bytes(user_id)
    if used + size > quota:
        raise ApiError("quota_exceeded",
                       _("your attachments use %(used)d of your %(quota)d bytes; this one "
                         "needs %(size)d", used=used, quota=quota, size=size))
