"""Collect orphaned attachments: what no one can download any more, and disk/table leftovers.

The server cannot tell which messages mention a blob (messages are encrypted), so
"orphaned" means only what the server can see:

- a file under BLOB_DIR without a row: an upload interrupted between writing the file
  and committing its row (or a temporary `.upload-*` file of one that died mid-stream),
  once older than UPLOAD_GRACE_SECONDS so an upload in progress is never touched;
- a row whose file is missing (deleted by hand, a lost disk): it can only answer 404;
- a pair's blob whose two people are no longer friends (unfriended, or an account
  deleted): downloads need the friendship, as history does, so no one can read it any more.
  A group's blob is never unreadable this way: it goes with its group, when the group's
  last member leaves (groups/service.py), and until then its members read it.

A blob uploaded but never sent in a message is not orphaned by this rule; it counts
against its uploader's quota (quota.py) until the pair stops being friends (a group's:
until the group is deleted, even after the uploader left it).
"""
import logging
import time

from flask import current_app

from ..extensions import db, socketio
from ..models import Blob, Friendship
from . import storage

log = logging.getLogger(__name__)
UPLOAD_GRACE_SECONDS = 3600


def collect(grace_seconds=UPLOAD_GRACE_SECONDS, now=None):
    """Delete orphaned blobs (rows and files); return how many of each kind went."""
    now = time.time() if now is None else now
    files = storage.files_on_disk()  # listed before the rows: a file committed meanwhile stays
    rows = db.session.execute(db.select(Blob.id, Blob.lo_id, Blob.hi_id, Blob.group_id)).all()
    friends = set(db.session.execute(
        db.select(Friendship.lo_id, Friendship.hi_id).where(Friendship.accepted.is_(True))
    ).all())
    on_disk = {name for name, _path, _mtime in files}
    unreadable = [row.id for row in rows
                  if row.group_id is None and (row.lo_id, row.hi_id) not in friends]
    missing = [row.id for row in rows  # looked up again: a file may have been renamed in since
               if (row.group_id is not None or (row.lo_id, row.hi_id) in friends)
               and row.id not in on_disk and not storage.path_for(row.id).exists()]
    gone = set(unreadable) | set(missing)
    if gone:
        db.session.execute(db.delete(Blob).where(Blob.id.in_(gone)))
        db.session.commit()
    for blob_id in unreadable:
        storage.delete(blob_id)
    known = {row.id for row in rows}
    stray = [path for name, path, mtime in files
             if name not in known and now - mtime > grace_seconds]
    for path in stray:
        path.unlink(missing_ok=True)
    counts = {"unreadable": len(unreadable), "rows_without_file": len(missing),
              "files_without_row": len(stray)}
    if any(counts.values()):
        log.info("blob collection removed %s", ", ".join(f"{v} {k}" for k, v in counts.items()))
    return counts


def _run_forever(app, interval):
    """Collect now and then every `interval` seconds; one log line when a run fails."""
    while True:
        with app.app_context():
            try:
                collect()
            except Exception as error:  # a locked or unreachable database: try next time
                db.session.rollback()
                log.warning("blob collection failed, will retry: %s", error.__class__.__name__)
            finally:
                db.session.remove()
        socketio.sleep(interval)


def start_periodic(app):
    """Start collecting in the background on the server's first request (BLOB_GC_INTERVAL > 0).

    Not at import: the Flask CLI and tests build the app too, and the server applies its
    migrations before it answers anything.
    """
    interval = app.config["BLOB_GC_INTERVAL"]
    if interval <= 0:
        return
    started = []

    @app.before_request
    def _start_once():
        if not started:
            started.append(True)
            socketio.start_background_task(_run_forever, current_app._get_current_object(),
                                           interval)
