"""Storing and reading envelopes of pairs and groups. Takes and returns ciphertext only,
never a plaintext."""
import heapq
import itertools

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_

from .. import wal_checkpoint
from ..conversations import Conversation, require_access
from ..errors import ApiError
from ..extensions import db, socketio
from ..keys.service import key_belongs_to
from ..models import GroupMember, IdentityKey, Message, MessageKey, ReadMarker
from ..groups.membership import member_ids
from ..rooms import ordered
from ..validation import require_int
from . import envelope as envelopes
from .relay import relay_stored
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
            config["WRITE_QUEUE"], config["WRITE_MAX_WAIT"], relay_stored,
            shared=bool(config["MESSAGE_QUEUE"]), gather=config["WRITE_GATHER_MS"] / 1000,
            checkpointer=_checkpointer(db.engine, config["SQLITE_CHECKPOINTS"])))
    return found


def _checkpointer(engine, setting):
    """The checkpoint helper's client for a file-backed SQLite database, else None."""
    database_path = wal_checkpoint.database_file(engine, setting)
    return None if database_path is None else wal_checkpoint.Checkpointer(database_path)


def close_writer():
    """At shutdown, before the engine is disposed: the writer gives its connection back."""
    found = current_app.extensions.get(_WRITER)
    if found is not None:
        found.close()


def store(sender_id, envelope):
    """Store an envelope once per (sender, cid), committed before this returns.

    Returns (message, created): a retried cid answers the stored message, not a new one.
    """
    stored = writer().write(sender_id, envelope)
    if stored is not None:
        stored_id, ts = stored
        return envelopes.stored(envelope, sender_id, stored_id, ts), True
    if isinstance(envelope, envelopes.GroupEnvelope):
        return explain_group_refusal(sender_id, envelope), False
    return explain_refusal(sender_id, envelope), False


def _stored_with_cid(sender_id, cid):
    return db.session.execute(
        db.select(*_COLUMNS).where(Message.sender_id == sender_id, Message.cid == cid)
    ).first()


def explain_group_refusal(sender_id, envelope):
    """The writer inserted no group message: answer the stored message of a retried cid, or
    raise the refusal that says why, in the order of PROTOCOL §9.5 (cid, membership, sk,
    members, rk). Idempotency comes first, so a retry succeeds after membership changed."""
    existing = _stored_with_cid(sender_id, envelope.cid)
    if existing is not None:
        wraps = db.session.execute(
            db.select(MessageKey.user_id, MessageKey.rk, MessageKey.n, MessageKey.w)
            .where(MessageKey.message_id == existing.id)
        ).all() if existing.group_id is not None else ()
        if not envelope.same_content(existing, wraps):
            raise ApiError("conflict", _("this cid was already used for another message"))
        return existing
    require_access(sender_id, Conversation(group=envelope.g))
    if not key_belongs_to(sender_id, envelope.sk):
        raise ApiError("bad_request", _("sk %(key)s is not one of your keys", key=envelope.sk))
    members = sorted(member_ids(envelope.g))
    if envelope.members != members:
        raise ApiError("stale_members", _("the group's members changed: fetch the group and its"
                                          " members' keys, then seal the message again with the"
                                          " same cid"),
                       members=members)
    keys = {tuple(row) for row in db.session.execute(
        db.select(IdentityKey.user_id, IdentityKey.key_id)
        .where(IdentityKey.user_id.in_(members)))}
    for entry in envelope.keys:
        if (entry.to, entry.rk) not in keys:
            raise ApiError("bad_request", _("rk %(key)s is not a key of user %(user)s",
                                            key=entry.rk, user=entry.to))
    if envelope.entry_for(sender_id).rk != envelope.sk:
        raise ApiError("bad_request", _("your own entry's rk must equal sk"))
    raise ApiError("retry", _("could not store the message; try again"))  # changed meanwhile


def explain_refusal(sender_id, envelope):
    """The writer inserted nothing: answer the stored message of a retried cid, or raise the
    refusal that says why, checked in PROTOCOL order (friendship, cid, keys)."""
    require_access(sender_id, Conversation(friend=envelope.to))
    existing = db.session.execute(
        db.select(Message).filter_by(sender_id=sender_id, cid=envelope.cid)
    ).scalar_one_or_none()
    if existing is not None:
        return _same_or_conflict(existing, envelope)
    if not key_belongs_to(sender_id, envelope.sk):
        raise ApiError("bad_request", _("sk %(key)s is not one of your keys", key=envelope.sk))
    if not key_belongs_to(envelope.to, envelope.rk):
        raise ApiError("bad_request", _("rk %(key)s is not a key of user %(user)s",
                                        key=envelope.rk, user=envelope.to))
    raise ApiError("retry", _("could not store the message; try again"))  # changed meanwhile


def _same_or_conflict(existing, envelope):
    if not envelope.same_content(existing):
        raise ApiError("conflict", _("this cid was already used for another message"))
    return existing


def _involving(user_id):
    """The 1:1 messages to or from the user (a group message has no recipient)."""
    return or_(and_(Message.sender_id == user_id, Message.recipient_id.is_not(None)),
               Message.recipient_id == user_id)


def _limit(value, default, maximum):
    if value is None:
        return default
    return min(require_int(value, "limit", minimum=1), maximum)


_COLUMNS = Message.__table__.c  # reads return plain rows, never ORM objects (as_wire takes both)
# A group message as one member reads it: the message and that member's wrap (as_wire).
_WRAPPED = (*_COLUMNS, MessageKey.user_id.label("key_to"), MessageKey.rk.label("key_rk"),
            MessageKey.n.label("key_n"), MessageKey.w.label("key_w"))


def _wrapped_for(user_id):
    """Group messages carrying a wrap for the user, with that wrap (§9.5)."""
    return (db.select(*_WRAPPED).select_from(MessageKey)
            .join(Message, Message.id == MessageKey.message_id)
            .where(MessageKey.user_id == user_id))


def sync(user_id, after, limit=None):
    """Messages to or from the user, and group messages wrapped for the user, with id > after,
    oldest first (PROTOCOL §8, §9.5).

    Two index-backed queries (1:1 by sender/recipient, groups by message_keys' (user_id,
    message_id)), each of at most limit + 1 rows, merged in id order. `last` (the newest id
    visible to the user, both kinds) is the last row's id when this page holds everything after
    `after`; separate max(id)s run only for a partial or empty page.
    """
    after = require_int(after, "after")
    limit = _limit(limit, SYNC_DEFAULT, SYNC_MAX)
    pair_rows = db.session.execute(
        db.select(*_COLUMNS).where(_involving(user_id), Message.id > after)
        .order_by(Message.id).limit(limit + 1)
    ).all()
    group_rows = db.session.execute(
        _wrapped_for(user_id).where(MessageKey.message_id > after)
        .order_by(MessageKey.message_id).limit(limit + 1)
    ).all()
    rows = list(itertools.islice(heapq.merge(pair_rows, group_rows, key=lambda m: m.id),
                                 limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if rows and not more:
        return rows, False, rows[-1].id
    last_pair = db.session.execute(
        db.select(func.max(Message.id)).where(_involving(user_id))
    ).scalar() or 0
    last_group = db.session.execute(
        db.select(func.max(MessageKey.message_id)).where(MessageKey.user_id == user_id)
    ).scalar() or 0
    return rows, more, max(last_pair, last_group)


def history(user_id, friend_id, before=None, limit=None):
    """One conversation, a page of ids < before, oldest first (PROTOCOL §7)."""
    require_access(user_id, Conversation(friend=friend_id))
    limit = _limit(limit, HISTORY_DEFAULT, HISTORY_MAX)
    lo, hi = ordered(user_id, friend_id)
    query = db.select(*_COLUMNS).where(Message.lo_id == lo, Message.hi_id == hi)
    if before is not None:
        query = query.where(Message.id < require_int(before, "before", minimum=1))
    rows = db.session.execute(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    return list(reversed(rows[:limit])), len(rows) > limit


def group_history(user_id, group_id, before=None, limit=None):
    """A page of one group's messages wrapped for the user, ids < before, oldest first, each
    as delivered to the user (§9.2). Non-members get `not_found` before anything else."""
    require_access(user_id, Conversation(group=group_id))
    limit = _limit(limit, HISTORY_DEFAULT, HISTORY_MAX)
    query = _wrapped_for(user_id).where(Message.group_id == group_id)
    if before is not None:
        query = query.where(Message.id < require_int(before, "before", minimum=1))
    rows = db.session.execute(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    return list(reversed(rows[:limit])), len(rows) > limit


def mark_group_read(user_id, group_id, up_to):
    """Move the user's group read marker forward (never back, one UPDATE so concurrent reads
    cannot move it back), at most to the group's newest message wrapped for the user (§9.5).
    Returns the stored value."""
    require_access(user_id, Conversation(group=group_id))
    up_to = min(require_int(up_to, "up_to"), _newest_wrapped(user_id, group_id))
    mine = and_(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    db.session.execute(
        db.update(GroupMember).where(mine, GroupMember.read_up_to < up_to)
        .values(read_up_to=up_to)
    )
    stored = db.session.execute(db.select(GroupMember.read_up_to).where(mine)).scalar()
    db.session.commit()
    return stored


def _newest_wrapped(user_id, group_id):
    return db.session.execute(
        db.select(func.max(MessageKey.message_id))
        .join(Message, Message.id == MessageKey.message_id)
        .where(MessageKey.user_id == user_id, Message.group_id == group_id)
    ).scalar() or 0


def mark_read(user_id, friend_id, up_to):
    """Move the user's read marker forward (never back), at most to the conversation's newest
    message: a marker past it would hide messages that arrive later. Returns the stored value."""
    require_access(user_id, Conversation(friend=friend_id))
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


def group_conversations(user_id):
    """Per group of the user, ascending id: last message id/time and unread count among the
    messages wrapped for the user (unread: from others, id > the user's read marker)."""
    mine = db.select(GroupMember.group_id, GroupMember.read_up_to).where(
        GroupMember.user_id == user_id).subquery()
    wrapped = (db.select(Message.id, Message.ts, Message.group_id, Message.sender_id)
               .join(MessageKey, MessageKey.message_id == Message.id)
               .where(MessageKey.user_id == user_id)).subquery()
    unread = func.sum(case((and_(wrapped.c.sender_id != user_id,
                                 wrapped.c.id > mine.c.read_up_to), 1), else_=0))
    rows = db.session.execute(
        db.select(mine.c.group_id, mine.c.read_up_to, func.max(wrapped.c.id),
                  func.max(wrapped.c.ts), unread)
        .select_from(mine)
        .outerjoin(wrapped, wrapped.c.group_id == mine.c.group_id)
        .group_by(mine.c.group_id, mine.c.read_up_to)
        .order_by(mine.c.group_id)
    ).all()
    return [{"group": group_id, "last_id": last_id or 0, "last_ts": last_ts,
             "unread": int(count or 0), "read_up_to": read_up_to}
            for group_id, read_up_to, last_id, last_ts, count in rows]
