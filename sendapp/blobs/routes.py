"""Blob API: upload ciphertext for a friend pair, download it as one of that pair."""
from flask import Blueprint, current_app, jsonify, request, send_file
from flask_login import current_user, login_required

from ..errors import ApiError
from ..extensions import db
from ..friends.service import require_friend
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
    """Store an encrypted attachment for the pair (caller, ?to=friend)."""
    friend_id = query_int("to")
    if friend_id is None:
        raise ApiError("bad_request", "?to= must name a friend's user id")
    require_friend(current_user.id, friend_id)
    if request.mimetype != "application/octet-stream":
        raise ApiError("bad_request", "send the ciphertext as application/octet-stream")
    limit, excess = quota.upload_limit(current_user.id)
    if request.content_length is not None and request.content_length > limit:
        raise excess
    blob_id = storage.new_blob_id()
    size = storage.write_stream(blob_id, request.stream, limit, excess)
    lo, hi = ordered(current_user.id, friend_id)
    try:
        quota.require_room(current_user.id, size)
        db.session.add(Blob(id=blob_id, uploader_id=current_user.id, lo_id=lo, hi_id=hi,
                            size=size))
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(blob_id)
        raise
    return jsonify(blob=blob_id, size=size), 201


@bp.get("/blobs/<blob_id>")
@login_required
def download(blob_id):
    """The ciphertext, to the two people of its pair only, while they are friends (as history)."""
    blob = db.session.get(Blob, blob_id) if len(blob_id) == 22 else None
    if blob is None:
        raise ApiError("not_found", "no such attachment")
    if current_user.id not in (blob.lo_id, blob.hi_id):
        raise ApiError("forbidden", "this attachment belongs to another conversation")
    require_friend(current_user.id, blob.hi_id if current_user.id == blob.lo_id else blob.lo_id)
    path = storage.path_for(blob.id)
    if not path.exists():
        raise ApiError("not_found", "the attachment's file is missing on the server")
    response = send_file(path, mimetype="application/octet-stream", max_age=0,
                         conditional=True, download_name=f"{blob.id}.bin", as_attachment=True)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
