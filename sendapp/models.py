"""Database tables. The server stores ciphertext, public keys and metadata only."""
import time

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlalchemy.orm import deferred

from .extensions import db


def now_ms():
    """Milliseconds since the epoch: the unit of every timestamp on the wire."""
    return int(time.time() * 1000)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32), unique=True, nullable=False)
    # Deferred: loaded only by the login and vault paths that read them, never with every
    # request's user (the vault can be kilobytes; the hash has no business elsewhere).
    auth_hash = deferred(db.Column(db.String(255), nullable=False))
    kdf_iterations = db.Column(db.Integer, nullable=False)
    vault = deferred(db.Column(db.Text, nullable=True))  # client-encrypted JSON (PROTOCOL §3)
    created = db.Column(db.BigInteger, nullable=False, default=now_ms)
    disabled = db.Column(db.Boolean, nullable=False, default=False)

    keys = db.relationship(
        "IdentityKey", back_populates="user", cascade="all, delete-orphan",
        order_by="IdentityKey.id",
    )

    # Flask-Login identity: the session key, so a revoked session logs out at once.
    session_key = None

    def get_id(self):
        return self.session_key

    @property
    def is_active(self):
        return not self.disabled

    @property
    def current_key(self):
        return next((key for key in self.keys if key.current), None)


class IdentityKey(db.Model):
    """A public X25519 key; exactly one per user is current (PROTOCOL §3)."""

    __tablename__ = "identity_keys"
    __table_args__ = (UniqueConstraint("user_id", "key_id"),)

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    key_id = db.Column(db.String(12), nullable=False)
    public_key = db.Column(db.String(43), nullable=False)
    created = db.Column(db.BigInteger, nullable=False, default=now_ms)
    current = db.Column(db.Boolean, nullable=False, default=True)

    user = db.relationship("User", back_populates="keys")


class LoginSession(db.Model):
    """One logged-in browser or client; deleting the row logs it out everywhere."""

    __tablename__ = "login_sessions"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    token_hash = db.Column(db.String(64), unique=True, nullable=False)
    created = db.Column(db.BigInteger, nullable=False, default=now_ms)
    # Last request or socket event, written at most about once a minute (idle lifetime).
    last_seen = db.Column(db.BigInteger, nullable=False, default=now_ms)
    # "Firefox on Android": a summary of the User-Agent at login (auth/devices.py), never the
    # raw header; null for sessions from before it was recorded or without a User-Agent.
    device = db.Column(db.String(64), nullable=True)


class Friendship(db.Model):
    """One row per unordered pair: a pending request or an accepted friendship."""

    __tablename__ = "friendships"
    __table_args__ = (
        UniqueConstraint("lo_id", "hi_id"),
        CheckConstraint("lo_id < hi_id", name="ck_friendship_order"),
    )

    id = db.Column(db.Integer, primary_key=True)
    lo_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    hi_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                      nullable=False, index=True)
    requester_id = db.Column(db.Integer, nullable=False)
    accepted = db.Column(db.Boolean, nullable=False, default=False)
    created = db.Column(db.BigInteger, nullable=False, default=now_ms)
    since = db.Column(db.BigInteger, nullable=True)


class Message(db.Model):
    """A stored envelope (PROTOCOL §5, §9.4): routing fields, key ids and ciphertext.

    A pair message has `recipient_id`, `lo_id`, `hi_id` and `rk`; a group message has
    `group_id` instead and one MessageKey per member it was wrapped for. Both kinds share
    the id sequence (the §8 sync cursor) and the (sender, cid) idempotency key.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "cid"),
        Index("ix_messages_pair_id", "lo_id", "hi_id", "id"),
        Index("ix_messages_recipient_id", "recipient_id", "id"),
        Index("ix_messages_sender_id", "sender_id", "id"),
        Index("ix_messages_group_id", "group_id", "id"),
        CheckConstraint("(group_id IS NULL) = (recipient_id IS NOT NULL)",
                        name="ck_message_kind"),
        {"sqlite_autoincrement": True},  # ids never reused: they are sync cursors
    )

    id = db.Column(db.Integer, primary_key=True, autoincrement=True)
    sender_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    recipient_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                             nullable=True)
    group_id = db.Column(db.Integer, db.ForeignKey("groups.id", ondelete="CASCADE"),
                         nullable=True)
    lo_id = db.Column(db.Integer, nullable=True)
    hi_id = db.Column(db.Integer, nullable=True)
    cid = db.Column(db.String(22), nullable=False)
    sk = db.Column(db.String(12), nullable=False)
    rk = db.Column(db.String(12), nullable=True)
    n = db.Column(db.String(16), nullable=False)
    ct = db.Column(db.Text, nullable=False)
    ts = db.Column(db.BigInteger, nullable=False, default=now_ms)


class MessageKey(db.Model):
    """A group message's key K wrapped for one member (PROTOCOL §9.4): what that member
    receives, and the index by which sync and history find the member's group messages."""

    __tablename__ = "message_keys"
    __table_args__ = (Index("ix_message_keys_user_id", "user_id", "message_id"),)

    message_id = db.Column(db.Integer, db.ForeignKey("messages.id", ondelete="CASCADE"),
                           primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                        primary_key=True)
    rk = db.Column(db.String(12), nullable=False)
    n = db.Column(db.String(16), nullable=False)
    w = db.Column(db.String(64), nullable=False)


class Group(db.Model):
    """A group conversation (PROTOCOL §9.1). Its name lives only in encrypted messages."""

    __tablename__ = "groups"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused

    id = db.Column(db.Integer, primary_key=True, autoincrement=True)
    created_by = db.Column(db.Integer, nullable=False)  # kept after the creator leaves
    created = db.Column(db.BigInteger, nullable=False, default=now_ms)


class GroupMember(db.Model):
    """One current member of a group, with its role and the group read marker."""

    __tablename__ = "group_members"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'member')", name="ck_group_member_role"),
        Index("ix_group_members_user_id", "user_id"),
    )

    group_id = db.Column(db.Integer, db.ForeignKey("groups.id", ondelete="CASCADE"),
                         primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                        primary_key=True)
    role = db.Column(db.String(8), nullable=False)
    added_by = db.Column(db.Integer, nullable=False)
    added = db.Column(db.BigInteger, nullable=False, default=now_ms)
    read_up_to = db.Column(db.Integer, nullable=False, default=0)


class ReadMarker(db.Model):
    """How far a user has read a conversation with one friend."""

    __tablename__ = "read_markers"

    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                        primary_key=True)
    friend_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                          primary_key=True)
    up_to = db.Column(db.Integer, nullable=False, default=0)


class Blob(db.Model):
    """An encrypted attachment on disk, readable by the two people of one pair, or by the
    current members of one group (`group_id`, PROTOCOL §9.2)."""

    __tablename__ = "blobs"

    id = db.Column(db.String(22), primary_key=True)
    uploader_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"),
                            nullable=False, index=True)  # the quota sums per uploader
    lo_id = db.Column(db.Integer, nullable=True)
    hi_id = db.Column(db.Integer, nullable=True)
    group_id = db.Column(db.Integer, db.ForeignKey("groups.id", ondelete="CASCADE"),
                         nullable=True, index=True)
    size = db.Column(db.BigInteger, nullable=False)
    created = db.Column(db.BigInteger, nullable=False, default=now_ms)
