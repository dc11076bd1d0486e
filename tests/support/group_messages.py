"""Groups and group envelopes for tests of the message path (PROTOCOL §9.4-9.5).

Membership rows are written directly (the membership API is another part's job), and the
envelopes are structurally valid without real cryptography: the server cannot check
cryptography, only shapes, members and key ids.
"""
import secrets

from sendapp.encoding import b64url_encode
from sendapp.extensions import db
from sendapp.models import Group, GroupMember, IdentityKey, now_ms

CT_BYTES = 48


def _b64(size):
    return b64url_encode(secrets.token_bytes(size))


def make_group(app, *people):
    """A group of `people` (the first is the creator and admin), added in that order."""
    with app.app_context():
        creator = people[0].id
        created = now_ms()
        group = Group(created_by=creator, created=created)
        db.session.add(group)
        db.session.flush()
        for index, person in enumerate(people):
            db.session.add(GroupMember(group_id=group.id, user_id=person.id,
                                       role="admin" if index == 0 else "member",
                                       added_by=creator, added=created + index))
        db.session.commit()
        return group.id


def add_member(app, group_id, person, by):
    with app.app_context():
        db.session.add(GroupMember(group_id=group_id, user_id=person.id, role="member",
                                   added_by=by.id, added=now_ms()))
        db.session.commit()


def remove_member(app, group_id, person):
    with app.app_context():
        db.session.execute(db.delete(GroupMember).where(GroupMember.group_id == group_id,
                                                        GroupMember.user_id == person.id))
        db.session.commit()


def add_old_key(app, person):
    """Store another (not current) key for the person; answers its key id."""
    key_id = _b64(9)
    with app.app_context():
        db.session.add(IdentityKey(user_id=person.id, key_id=key_id, public_key=_b64(32),
                                   current=False))
        db.session.commit()
    return key_id


def entry(person, rk=None):
    """One member's entry: its current key id, a fresh nonce and a 48-byte wrap."""
    return {"to": person.id, "rk": rk or person.key_id, "n": _b64(12), "w": _b64(48)}


def group_envelope(sender, group_id, members, cid=None, ct_bytes=CT_BYTES):
    """What `sender` emits to the group, wrapped for `members` (the sender among them or not:
    the caller decides, so tests can send stale lists)."""
    return {"v": 1, "cid": cid or _b64(16), "g": group_id, "sk": sender.key_id,
            "n": _b64(12), "ct": _b64(ct_bytes), "keys": [entry(m) for m in members]}


def delivered_to(envelope, member, ack, sender):
    """What §9.5 says `member` receives for a stored envelope: only its own entry."""
    own = [e for e in envelope["keys"] if e["to"] == member.id]
    return {"v": 1, "id": ack["id"], "from": sender.id, "ts": ack["ts"], "g": envelope["g"],
            "cid": envelope["cid"], "sk": envelope["sk"], "n": envelope["n"],
            "ct": envelope["ct"], "keys": own}
