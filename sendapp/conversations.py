"""Who may read or send in a conversation: the one rule that pairs and groups both use.

A conversation is named on the wire either by a friend (`to`/`friend`, PROTOCOL §8) or by a
group (`group`/`g`, §9.5), never both. Pair: the two must be accepted friends (`forbidden`).
Group: the caller must be a current member (`not_found`, so groups cannot be probed).
"""
from dataclasses import dataclass

from flask_babel import gettext as _

from .errors import ApiError
from .friends.service import require_friend, require_friend_of_socket
from .groups.membership import member_ids, require_member
from .rooms import user_room


@dataclass(frozen=True)
class Conversation:
    """A pair (`friend` set) or a group (`group` set)."""

    friend: int = None
    group: int = None

    @property
    def is_group(self):
        return self.group is not None


def named_in(data, friend_field):
    """The conversation an event names: `group`, or the friend under `friend_field`.

    Naming a group together with a friend is `bad_request` (§9.5).
    """
    if "group" in data:
        if friend_field in data or "to" in data or "friend" in data:
            raise ApiError("bad_request", _("name either a group or a friend, not both"))
        return Conversation(group=data["group"])
    return Conversation(friend=data.get(friend_field))


def require_access(user_id, conversation, sid=None):
    """Refuse a user who may not read or send in the conversation (the one rule).

    :param sid: the caller's socket, when there is one: pair checks then answer from the
        socket's pair rooms when they can (friends/service.py).
    """
    if conversation.is_group:
        require_member(user_id, conversation.group)
    elif sid is not None:
        require_friend_of_socket(sid, user_id, conversation.friend)
    else:
        require_friend(user_id, conversation.friend)


def audience(user_id, conversation):
    """The user rooms an event about this conversation goes to besides the caller's own:
    the friend's, or every other member's."""
    if conversation.is_group:
        return [user_room(m) for m in member_ids(conversation.group) if m != user_id]
    return [user_room(conversation.friend)]
