"""Storing and reading envelopes. Takes and returns ciphertext only, never a plaintext."""
from flask import current_app
from sqlalchemy import func, or_

from ..errors import ApiError
from ..extensions import db, socketio
from ..friends.service import require_friend
from ..keys.service import key_belongs_to
from ..models import Message, ReadMarker
from ..rooms import ordered
from ..validation import require_int
from . import envelope as envelopes
from .writer import MessageWriter

SYNC_DEFAULT, SYNC_MAX = 200, 500
HISTORY_DEFAULT, HISTORY_MAX = 50, 200
_WRITER = "sendapp_message_writer"


def writer():
    """This app's MessageWriter (one per server process and app)."""
    app = current_app._get_current_object()
    found = app.extensions.get(_WRITER)
    if found is None:
        config = app.config
        found = app.extensions.setdefault(_WRITER, MessageWriter(
            db.engine, socketio.start_background_task, socketio.sleep,
            config["WRITE_QUEUE"], config["WRITE_MAX_WAIT"]))
    return found


def store(sender_id, envelope):
    """Store an envelope once per (sender, cid), committed before this returns.

    Returns (message, created): a retried cid answers the stored message, not a new one.
    """
    stored = writer().write(sender_id, envelope)
    if stored is not None:
        stored_id, ts = stored
        return envelopes.stored(envelope, sender_id, stored_id, ts), True
    return explain_refusal(sender_id, envelope), False


def explain_refusal(sender_id, envelope):
    """The writer inserted nothing: answer the stored message of a retried cid, or raise the
    refusal that says why, checked in PROTOCOL order (friendship, cid, keys)."""
    require_friend(sender_id, envelope.to)
    existing = db.session.execute(
        db.select(Message).filter_by(sender_id=sender_id, cid=envelope.cid)
    ).scalar_one_or_none()
    if existing is not None:
        return _same_or_conflict(existing, envelope)
    if not key_belongs_to(sender_id, envelope.sk):
        raise ApiError("bad_request", f"sk {envelope.sk} is not one of your keys")
    if not key_belongs_to(envelope.to, envelope.rk):
        raise ApiError("bad_request", f"rk {envelope.rk} is not a key of user {envelope.to}")
    raise ApiError("retry", "could not store the message; try again")  # changed meanwhile


def _same_or_conflict(existing, envelope):
    if not envelope.same_content(existing):
        raise ApiError("conflict", "this cid was already used for another message")
    return existing


def _involving(user_id):
    return or_(Message.sender_id == user_id, Message.recipient_id == user_id)


def _limit(value, default, maximum):
    if value is None:
        return default
    return min(require_int(value, "limit", minimum=1), maximum)


_COLUMNS = Message.__table__.c  # reads return plain rows, never ORM objects (as_wire takes both)


def sync(user_id, after, limit=None):
    """Messages to or from the user with id > after, oldest first (PROTOCOL §8).

    `last` (the newest id visible to the user) is the last row's id when this page holds
    everything after `after`; a separate max(id) runs only for a partial or empty page.
    """
    after = require_int(after, "after")
    limit = _limit(limit, SYNC_DEFAULT, SYNC_MAX)
    rows = db.session.execute(
        db.select(*_COLUMNS).where(_involving(user_id), Message.id > after)
        .order_by(Message.id).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if rows and not more:
        return rows, False, rows[-1].id
    last = db.session.execute(
        db.select(func.max(Message.id)).where(_involving(user_id))
    ).scalar() or 0
    return rows, more, last


def history(user_id, friend_id, before=None, limit=None):
    """One conversation, a page of ids < before, oldest first (PROTOCOL §7)."""
    require_friend(user_id, friend_id)
    limit = _limit(limit, HISTORY_DEFAULT, HISTORY_MAX)
    lo, hi = ordered(user_id, friend_id)
    query = db.select(*_COLUMNS).where(Message.lo_id == lo, Message.hi_id == hi)
    if before is not None:
        query = query.where(Message.id < require_int(before, "before", minimum=1))
    rows = db.session.execute(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    return list(reversed(rows[:limit])), len(rows) > limit


def mark_read(user_id, friend_id, up_to):
    """Move the user's read marker forward (never back), at most to the conversation's newest
    message: a marker past it would hide messages that arrive later. Returns the stored value."""
    require_friend(user_id, friend_id)
    up_to = min(require_int(up_to, "up_to"), _newest_id(user_id, friend_id))
    marker = db.session.get(ReadMarker, (user_id, friend_id))
    if marker is None:
        marker = ReadMarker(user_id=user_id, friend_id=friend_id, up_to=0)
        db.session.add(marker)
    marker.up_to = max(marker.up_to, up_to)
    db.session.commit()
    return marker.up_to


def _newest_id(a, b):
    lo, hi = ordered(a, b)
    return db.session.execute(
        db.select(func.max(Message.id)).where(Message.lo_id == lo, Message.hi_id == hi)
    ).scalar() or 0


def conversations(user_id, friend_ids):
    """Per friend: last message id/time, unread count, both read markers."""
    markers = {
        (m.user_id, m.friend_id): m.up_to
        for m in db.session.execute(
            db.select(ReadMarker).where(
                or_(ReadMarker.user_id == user_id, ReadMarker.friend_id == user_id))
        ).scalars()
    }
    result = []
    for friend_id in friend_ids:
        lo, hi = ordered(user_id, friend_id)
        last_id, last_ts = db.session.execute(
            db.select(func.max(Message.id), func.max(Message.ts))
            .where(Message.lo_id == lo, Message.hi_id == hi)
        ).one()
        read_up_to = markers.get((user_id, friend_id), 0)
        unread = db.session.execute(
            db.select(func.count(Message.id)).where(
                Message.sender_id == friend_id, Message.recipient_id == user_id,
                Message.id > read_up_to)
        ).scalar()
        result.append({
            "friend": friend_id, "last_id": last_id or 0, "last_ts": last_ts,
            "unread": unread, "read_up_to": read_up_to,
            "peer_read_up_to": markers.get((friend_id, user_id), 0),
        })
    return result
