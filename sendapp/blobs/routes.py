"""Blob API: upload ciphertext for a friend pair or a group, download it as one of them."""
from flask import Blueprint, current_app, jsonify, request, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import ApiError
from ..extensions import db
from ..conversations import Conversation, require_access
from ..groups.membership import is_member
from ..models import Blob
from ..rooms import ordered
from ..validation import query_int
from . import quota, storage

bp = Blueprint("blobs", __name__, url_prefix="/api")


def allow_upload_bodies():
    """Give the upload view its own body limit, MAX_BLOB_BYTES, instead of MAX_CONTENT_LENGTH.

    Registered before the CSRF check, whose form lookup already applies the limit.
    """
    if request.endpoint == "blobs.upload":
        request.max_content_length = current_app.config["MAX_BLOB_BYTES"]


@bp.post("/blobs")
@login_required
def upload():
    """Store an encrypted attachment for the pair (caller, ?to=friend) or for ?group= (§9.2)."""
    friend_id, group_id = query_int("to"), query_int("group")
    if friend_id is not None and group_id is not None:
        raise ApiError("bad_request", _("name either ?to= or ?group=, not both"))
    if friend_id is None and group_id is None:
        raise ApiError("bad_request",
                       _("?to= must name a friend's user id (or ?group= a group)"))
    _owner(friend_id, group_id)  # refuse before reading the body
    if request.mimetype != "application/octet-stream":
        raise ApiError("bad_request", _("send the ciphertext as application/octet-stream"))
    limit, excess = quota.upload_limit(current_user.id)
    if request.content_length is not None and request.content_length > limit:
        raise excess
    blob_id = storage.new_blob_id()
    size = storage.write_stream(blob_id, request.stream, limit, excess)
    try:
        quota.require_room(current_user.id, size)
        db.session.expire_all()  # the upload took time: check again against the database
        owner = _owner(friend_id, group_id)
        db.session.add(Blob(id=blob_id, uploader_id=current_user.id, size=size, **owner))
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(blob_id)
        raise
    return jsonify(blob=blob_id, size=size), 201


def _owner(friend_id, group_id):
    """The columns naming who may read a new blob: the caller's pair with a friend, or a
    group the caller is a member of (404 otherwise, as every group route, §9.2)."""
    require_access(current_user.id, Conversation(friend=friend_id, group=group_id))
    if group_id is not None:
        return {"group_id": group_id}
    lo, hi = ordered(current_user.id, friend_id)
    return {"lo_id": lo, "hi_id": hi}


@bp.get("/blobs/<blob_id>")
@login_required
def download(blob_id):
    """The ciphertext, to the two people of its pair only, while they are friends (as history);
    a group's, to its current members only (§9.2)."""
    blob = db.session.get(Blob, blob_id) if len(blob_id) == 22 else None
    if blob is None:
        raise ApiError("not_found", _("no such attachment"))
    if blob.group_id is not None:
        if not is_member(blob.group_id, current_user.id):
            raise ApiError("forbidden", _("this attachment belongs to a group you are not in"))
    elif current_user.id not in (blob.lo_id, blob.hi_id):
        raise ApiError("forbidden", _("this attachment belongs to another conversation"))
    else:
        friend = blob.hi_id if current_user.id == blob.lo_id else blob.lo_id
        require_access(current_user.id, Conversation(friend=friend))
    path = storage.path_for(blob.id)
    if not path.exists():
        raise ApiError("not_found", _("the attachment's file is missing on the server"))
    response = send_file(path, mimetype="application/octet-stream", max_age=0,
                         conditional=True, download_name=f"{blob.id}.bin", as_attachment=True)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
