"""Socket.IO room names (PROTOCOL §8). Rooms are always computed here, never taken from a client."""


def ordered(a, b):
    """The (lo, hi) order of a pair: the smaller numeric id first (PROTOCOL §4)."""
    return (a, b) if a < b else (b, a)


def user_room(user_id):
    return f"user:{user_id}"


def pair_room(a, b):
    lo, hi = ordered(a, b)
    return f"pair:{lo}:{hi}"
