"""Server-to-client events (PROTOCOL §8), emitted from HTTP views and socket handlers alike."""
from .extensions import socketio
from .rooms import pair_room, user_room


def to_user(user_id, event, data):
    socketio.emit(event, data, to=user_room(user_id))


def to_pair(a, b, event, data):
    socketio.emit(event, data, to=pair_room(a, b))


def presence(user_id, online, friend_ids):
    """PROTOCOL §8 `presence`: tell each friend that the user came online or went offline."""
    for friend_id in friend_ids:
        to_user(friend_id, "presence", {"user": user_id, "online": online})
