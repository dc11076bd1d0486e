"""Who may talk to whom: the one place that answers it for HTTP and Socket.IO."""
from operator import itemgetter

from flask_babel import gettext as _
from sqlalchemy import or_

from .. import notify
from ..errors import ApiError
from ..extensions import db, socketio
from ..models import Friendship, User, now_ms
from ..rooms import ordered, pair_room
from ..validation import require_id

SEARCH_LIMIT = 20


def _row(a, b):
    lo, hi = ordered(a, b)
    return db.session.execute(
        db.select(Friendship).filter_by(lo_id=lo, hi_id=hi)
    ).scalar_one_or_none()


def are_friends(a, b):
    row = _row(a, b) if a != b else None
    return row is not None and row.accepted


def _require_other_user(user_id, friend_id):
    if isinstance(friend_id, bool) or not isinstance(friend_id, int):
        raise ApiError("bad_request", _("the friend must be named by an integer user id"))
    require_id(friend_id, "friend")
    if friend_id == user_id:
        raise ApiError("bad_request", _("you cannot do this with yourself"))


def require_friend(user_id, friend_id):
    """Refuse anything between two people who are not friends (`forbidden`)."""
    _require_other_user(user_id, friend_id)
    if not are_friends(user_id, friend_id):
        raise ApiError("forbidden", _("not_friends: you can only do this with a friend"))


def require_friend_of_socket(sid, user_id, friend_id):
    """`require_friend` answered from memory when it can: a socket is in a pair's room while
    the two are friends (joined at connect or by `join`; `remove` closes the room in every
    process, through the message queue when one is set). Not in it: the database decides."""
    _require_other_user(user_id, friend_id)
    if pair_room(user_id, friend_id) not in socketio.server.rooms(sid, namespace="/"):
        require_friend(user_id, friend_id)


def _rows_of(user_id):
    return db.session.execute(
        db.select(Friendship).where(or_(Friendship.lo_id == user_id, Friendship.hi_id == user_id))
    ).scalars().all()


def _other(row, user_id):
    return row.hi_id if row.lo_id == user_id else row.lo_id


def friend_ids(user_id):
    return [_other(row, user_id) for row in _rows_of(user_id) if row.accepted]


def related_ids(user_id):
    """Everyone with a friendship or a pending request with this user."""
    return [_other(row, user_id) for row in _rows_of(user_id)]


def announce_gone(user_id, related):
    """After an account's deletion is committed: close its pair rooms and tell the people it
    was related to (`related_ids`, read before) that their friend list changed."""
    for other_id in related:
        socketio.close_room(pair_room(user_id, other_id))
        notify.to_user(other_id, "friends", {})


def listing(user_id, online_among):
    """PROTOCOL §7 GET /api/friends: friends, incoming and outgoing requests.

    :param online_among: answers which of the given user ids are online (one call).
    """
    rows = _rows_of(user_id)
    users = {u.id: u for u in db.session.execute(
        db.select(User).where(User.id.in_([_other(r, user_id) for r in rows]))
    ).scalars()}
    online = online_among([_other(r, user_id) for r in rows if r.accepted])
    friends, incoming, outgoing = [], [], []
    for row in rows:
        other = users.get(_other(row, user_id))
        if other is None:
            continue
        if row.accepted:
            friends.append(friend_json(other, row, other.id in online))
        elif row.requester_id == user_id:
            outgoing.append({"id": other.id, "username": other.username, "since": row.created})
        else:
            incoming.append({"id": other.id, "username": other.username, "since": row.created})
    by_name = itemgetter("username")
    return {"friends": sorted(friends, key=by_name), "incoming": sorted(incoming, key=by_name),
            "outgoing": sorted(outgoing, key=by_name)}


def friend_json(user, row, online):
    key = user.current_key
    return {"id": user.id, "username": user.username, "since": row.since,
            "online": bool(online), "key_id": key.key_id if key else None}


def search(user_id, prefix):
    """Users whose name starts with `prefix` (never self, at most 20)."""
    prefix = (prefix or "").strip().lower()
    if not prefix:
        return []
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found = db.session.execute(
        db.select(User)
        .where(User.username.like(escaped + "%", escape="\\"), User.id != user_id,
               User.disabled.is_(False))
        .order_by(User.username)
        .limit(SEARCH_LIMIT)
    ).scalars()
    return [{"id": u.id, "username": u.username} for u in found]


def request_friend(user, target):
    """Ask `target`; if they asked first, this accepts. Returns (status, row)."""
    if target.id == user.id:
        raise ApiError("bad_request", _("you cannot befriend yourself"))
    if target.disabled:
        raise ApiError("not_found", _("no such user"))
    row = _row(user.id, target.id)
    if row is not None and row.accepted:
        raise ApiError("conflict", _("you are already friends"))
    if row is not None and row.requester_id == user.id:
        raise ApiError("conflict", _("you already asked; wait for an answer"))
    if row is not None:
        return "accepted", _accept(row)
    lo, hi = ordered(user.id, target.id)
    row = Friendship(lo_id=lo, hi_id=hi, requester_id=user.id, accepted=False)
    db.session.add(row)
    db.session.commit()
    _announce(user.id, target.id)
    return "requested", row


def accept(user, requester_id):
    """Accept a pending request that `requester_id` sent to `user`."""
    row = _row(user.id, requester_id) if requester_id != user.id else None
    if row is None or row.accepted or row.requester_id == user.id:
        raise ApiError("not_found", _("no pending request from that user"))
    return _accept(row)


def _accept(row):
    row.accepted = True
    row.since = now_ms()
    db.session.commit()
    _announce(row.lo_id, row.hi_id)
    return row


def remove(user, other_id):
    """Decline, cancel or unfriend: the row goes; messages stay stored but sealed off."""
    row = _row(user.id, other_id) if other_id != user.id else None
    if row is None:
        raise ApiError("not_found", _("no friendship or request with that user"))
    db.session.delete(row)
    db.session.commit()
    socketio.close_room(pair_room(user.id, other_id))
    _announce(user.id, other_id)


def _announce(a, b):
    for user_id in (a, b):
        notify.to_user(user_id, "friends", {})
