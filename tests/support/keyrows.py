"""What someone who can write the server's database does to identity keys (issue 7, §1).

The tests use it to play a hostile or compromised server against the real server's SQLite
file while the server runs: swap a key's bytes under its id, add a key, store a message.
"""
import contextlib
import secrets
import sqlite3
import time

from sendapp import crypto
from sendapp.encoding import b64url_decode, b64url_encode


@contextlib.contextmanager
def _database(path):
    """One short write transaction on the live server's database (it waits for the server's lock)."""
    connection = sqlite3.connect(str(path), timeout=10)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


def _user_id(db, username):
    return db.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0]


def current_key(path, username):
    """(key id, public bytes) of the user's current key as the server stores it."""
    with _database(path) as db:
        kid, public = db.execute(
            "SELECT k.key_id, k.public_key FROM identity_keys k JOIN users u ON u.id = k.user_id"
            " WHERE u.username = ? AND k.current", (username,)).fetchone()
    return kid, b64url_decode(public, crypto.KEY_BYTES)


def replace_key_bytes(path, username):
    """Put other key bytes under the user's current key id; answer that (unchanged) id."""
    _, public = crypto.generate_identity()
    with _database(path) as db:
        row_id, kid = db.execute(
            "SELECT k.id, k.key_id FROM identity_keys k JOIN users u ON u.id = k.user_id"
            " WHERE u.username = ? AND k.current", (username,)).fetchone()
        db.execute("UPDATE identity_keys SET public_key = ? WHERE id = ?",
                   (b64url_encode(public), row_id))
    return kid


def add_key(path, username):
    """Add a non-current key for the user (its id is its hash); answer (key id, private, public)."""
    private, public = crypto.generate_identity()
    kid = crypto.key_id(public)
    with _database(path) as db:
        db.execute("INSERT INTO identity_keys (user_id, key_id, public_key, created, current)"
                   " VALUES (?, ?, ?, ?, 0)",
                   (_user_id(db, username), kid, b64url_encode(public), int(time.time() * 1000)))
    return kid, private, public


def store_message(path, sender, recipient, sender_key, text):
    """Store a message "from" `sender` sealed under `sender_key` = (key id, private, public)."""
    kid, private, public = sender_key
    rkid, rpublic = current_key(path, recipient)
    with _database(path) as db:
        sid, rid = _user_id(db, sender), _user_id(db, recipient)
        lo, hi = sorted((sid, rid))
        lo_public, hi_public = (public, rpublic) if sid < rid else (rpublic, public)
        key = crypto.pair_key(private, rpublic, lo, hi, lo_public, hi_public)
        env = crypto.encrypt_message(key, sid, rid, kid, rkid,
                                     {"t": "text", "body": text, "sent": int(time.time() * 1000)},
                                     cid=b64url_encode(secrets.token_bytes(16)))
        cursor = db.execute(
            "INSERT INTO messages (sender_id, recipient_id, lo_id, hi_id, cid, sk, rk, n, ct, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, rid, lo, hi, env["cid"], kid, rkid, env["n"], env["ct"], int(time.time() * 1000)))
    return cursor.lastrowid


def sent_messages(path, sender, recipient):
    """Stored messages from `sender` to `recipient`: [{"id", "sk", "rk"}], oldest first."""
    with _database(path) as db:
        rows = db.execute(
            "SELECT m.id, m.sk, m.rk FROM messages m WHERE m.sender_id = ? AND m.recipient_id = ?"
            " ORDER BY m.id", (_user_id(db, sender), _user_id(db, recipient))).fetchall()
    return [{"id": i, "sk": sk, "rk": rk} for i, sk, rk in rows]
