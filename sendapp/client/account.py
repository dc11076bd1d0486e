"""One account on the client side: password to secrets, vault to private keys,
plaintext to envelopes and back (PROTOCOL §2-§5).

Every cryptographic step is a call into `sendapp.crypto`; this module only
decides which keys to use. Private keys and pair keys stay in memory here and
are never sent anywhere; the server sees `auth`, the encrypted vault, public
keys and envelopes.
"""
import logging
import threading
import time
from dataclasses import dataclass

from .. import crypto
from ..encoding import b64url_decode, b64url_encode
from ..errors import ApiError
from ..validation import normalise_username
from . import pins
from .http import ApiFailure

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8  # PROTOCOL §1: the client enforces it, the server never sees it
# PROTOCOL §2: refuse to derive with fewer PBKDF2 iterations than this, whatever the server
# announces (a hostile server could announce 1 to make guessing the password from `auth`
# cheap). Only the caller may lower it (tests against a server with a fast KDF).
MIN_ITERATIONS = 100_000
KDF_NAME = "pbkdf2-sha256"
MAX_CIPHERTEXT_CHARS = 65_536  # the server's default `ct` limit (§8)


class AccountError(Exception):
    """A refusal decided on the client (short password, unreadable vault, unknown friend…)."""


class KeyChangeError(AccountError):
    """Sending refused: the friend's key changed and is not accepted, or failed its check (§6)."""


def now_ms():
    return int(time.time() * 1000)


@dataclass(frozen=True)
class KeyPair:
    """One of my X25519 identity key pairs, from the vault (§3)."""

    key_id: str
    private: bytes
    public: bytes
    created: int

    def __repr__(self):
        return f"KeyPair({self.key_id!r}, <private redacted>)"


def file_plain(blob_id, name, mime, size, encrypted):
    """The `file` plaintext naming an uploaded attachment and its key (§5; groups too, §9.3).

    :param encrypted: the `crypto.EncryptedFile` whose ciphertext was uploaded as `blob_id`.
    """
    return {"t": "file", "name": name, "mime": mime, "size": int(size), "blob": blob_id,
            "key": b64url_encode(encrypted.key), "n": b64url_encode(encrypted.nonce),
            "sha256": encrypted.sha256}


def clean_username(raw):
    """Normalise a username as the server does (§1), or raise AccountError."""
    try:
        return normalise_username(raw)
    except ApiError as error:
        raise AccountError(error.message) from None


def _secrets(api, username, password, min_iterations=MIN_ITERATIONS):
    """Ask the KDF parameters, then derive `auth` and `vault_key` locally (§2)."""
    pre = api.prelogin(username)
    if pre.get("kdf") != KDF_NAME:
        raise AccountError(f"the server asks for an unknown KDF {pre.get('kdf')!r}")
    iterations = pre.get("iterations")
    if isinstance(iterations, bool) or not isinstance(iterations, int) \
            or iterations < min_iterations:
        raise AccountError(
            f"the server announces {iterations!r} PBKDF2 iterations, fewer than the "
            f"{min_iterations} this client accepts: refusing to derive keys from your password")
    return crypto.derive_account_secrets(username, password, iterations), iterations


def _new_key_pair():
    private, public = crypto.generate_identity()
    return KeyPair(crypto.key_id(public), private, public, now_ms())


def _vault_for(secrets, username, pairs, extra=None):
    entries = [crypto.vault_entry(p.private, p.public, p.created) for p in pairs]
    return crypto.encrypt_vault(secrets.vault_key, username, entries, extra=extra)


def _extra_of(plain):
    """The vault's fields besides its version and keys (`peers`, and any a newer client adds)."""
    return {k: v for k, v in plain.items() if k not in ("v", "keys")}


def _pairs_from_vault(plain):
    """Check every vault entry (its id and public half must match its private half)."""
    pairs = {}
    for entry in plain["keys"]:
        try:
            private = b64url_decode(entry["d"], crypto.KEY_BYTES)
            public = b64url_decode(entry["x"], crypto.KEY_BYTES)
            kid = entry["id"]
            created = entry.get("created", 0)
        except (KeyError, TypeError, ValueError):
            raise AccountError("the vault holds a malformed key entry") from None
        if crypto.public_from_private(private) != public or crypto.key_id(public) != kid:
            raise AccountError(f"the vault's key {kid!r} is inconsistent")
        pairs[kid] = KeyPair(kid, private, public, created)
    return pairs


class Account:
    """A logged-in account: its `HttpApi`, user record and private keys by key id.

    Build one with `Account.register(...)` or `Account.login(...)`. Methods that
    may need a peer's public keys fetch them over HTTP once and cache them.
    """

    def __init__(self, api, user, key_pairs, secrets=None, vault_extra=None, vault=None):
        self.api = api
        self.user = dict(user)
        self.key_pairs = dict(key_pairs)
        self._lock = threading.RLock()
        self._peer_keys = {}  # user id → {key id: public bytes}
        self._peer_current = {}  # user id → current key id
        self._pair_keys = {}  # (own key id, peer id, peer key id) → 32 bytes
        # §6: accepted key ids per friend, kept in the vault (written with these secrets)
        self._secrets = secrets
        self._vault_extra = dict(vault_extra or {})
        self._vault = vault  # the stored vault this account's copy was read from or wrote
        self.accepted = pins.read_peers(self._vault_extra.get("peers"))
        self._warnings = {}  # user id → {"pending": set, "rejected": set}

    def __repr__(self):
        return f"Account({self.username!r}, id={self.id})"

    @property
    def id(self):
        return self.user["id"]

    @property
    def username(self):
        return self.user["username"]

    @property
    def current_key_id(self):
        return self.user.get("key_id")

    # --- §2/§3: register and log in -----------------------------------------------
    @classmethod
    def register(cls, api, username, password, min_iterations=MIN_ITERATIONS):
        """Create the account: derive secrets, make the first key pair and vault, POST.

        :param min_iterations: the fewest PBKDF2 iterations accepted from the server.
        """
        username = clean_username(username)
        if len(crypto.normalise_password(password)) < MIN_PASSWORD_CHARS:
            raise AccountError(f"passwords need at least {MIN_PASSWORD_CHARS} characters")
        secrets, iterations = _secrets(api, username, password, min_iterations)
        pair = _new_key_pair()
        vault = _vault_for(secrets, username, [pair])
        answer = api.register({
            "username": username,
            "auth": secrets.auth,
            "iterations": iterations,
            "vault": vault,
            "public_key": b64url_encode(pair.public),
        })
        return cls(api, answer["user"], {pair.key_id: pair}, secrets, vault=vault)

    @classmethod
    def login(cls, api, username, password, min_iterations=MIN_ITERATIONS):
        """Log in with `auth`, open the vault; create the first key if there is none (§3).

        :param min_iterations: the fewest PBKDF2 iterations accepted from the server.
        """
        username = clean_username(username)
        secrets, _iterations = _secrets(api, username, password, min_iterations)
        answer = api.login(username, secrets.auth)
        user, vault = answer["user"], answer.get("vault")
        if vault is None:
            pair = _new_key_pair()
            vault = _vault_for(secrets, username, [pair])
            user = api.put_vault(secrets.auth, vault, public_key=b64url_encode(pair.public))
            account = cls(api, user, {pair.key_id: pair}, secrets, vault=vault)
        else:
            try:
                plain = crypto.decrypt_vault(secrets.vault_key, username, vault)
            except crypto.CryptoError:
                raise AccountError("the server's copy of your vault cannot be opened "
                                   "(it is damaged or was not made with this password)") from None
            account = cls(api, user, _pairs_from_vault(plain), secrets, _extra_of(plain), vault)
        account.pin_friends()
        return account

    def logout(self):
        self.api.logout()

    # --- friends by name ------------------------------------------------------------
    def _named(self, section, username, missing):
        """The entry named `username` in one section of GET /api/friends."""
        name = clean_username(username)
        for item in self.api.friends()[section]:
            if item["username"] == name:
                return item
        raise AccountError(missing.format(name=name))

    def friend(self, username):
        """The `friend` record (§7) of an accepted friend named `username`."""
        return self._named("friends", username, "{name} is not your friend (yet)")

    def incoming_request(self, username):
        """The pending request that `username` sent me."""
        return self._named("incoming", username, "there is no pending friend request from {name}")

    # --- keys (§3, §4) ------------------------------------------------------------------
    def forget_peer(self, user_id):
        """Drop cached public keys of a user (after `key_changed`); pair keys stay valid."""
        with self._lock:
            self._peer_keys.pop(user_id, None)
            self._peer_current.pop(user_id, None)

    def _load_peer_keys(self, user_id):
        """Fetch a user's keys; drop any whose id is not its hash, never replace a known one (§3)."""
        keys, current, rejected = {}, None, set()
        for item in self.api.user_keys(user_id):
            checked = pins.verified_key(item)
            if checked is None:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    rejected.add(item["id"])
                    if item.get("current"):
                        current = item["id"]  # named, so sending can say why it refuses
                continue
            kid, public = checked
            keys[kid] = public
            if item.get("current"):
                current = kid
        with self._lock:
            known = self._peer_keys.get(user_id, {})
            self._peer_keys[user_id] = {**keys, **known}
            self._peer_current[user_id] = current
            rejected -= set(self._peer_keys[user_id])  # a key held already is used as it is
            if rejected:
                self._warning(user_id)["rejected"].update(rejected)
            return self._peer_keys[user_id]

    # --- §6: accepted keys ------------------------------------------------------------------
    def _warning(self, user_id):
        return self._warnings.setdefault(user_id, {"pending": set(), "rejected": set()})

    def key_warning(self, user_id):
        """The unanswered key warning for a friend: {"pending", "rejected"} key ids, or None."""
        with self._lock:
            warning = self._warnings.get(user_id)
            if warning and (warning["pending"] or warning["rejected"]):
                return {"pending": set(warning["pending"]), "rejected": set(warning["rejected"])}
            return None

    def _save_accepted(self, required=False):
        """Write the accepted key ids into the vault (PUT /api/me/vault), keeping its other fields.

        An account built without the password's secrets (tests, tools) keeps them in memory,
        except for an explicit accept, which must reach every device. A first-use pin that
        cannot be saved now (offline, rate limited) stays in memory and goes with the next write.
        """
        if self._secrets is None:
            if not required:
                return
            raise AccountError("log in again to change which keys you trust")
        try:
            try:
                self._write_accepted()
            except ApiFailure as failure:
                if failure.code != "conflict" or not isinstance(failure.details.get("vault"), dict):
                    raise
                self._take_stored_vault(failure.details["vault"])  # another device wrote it
                self._write_accepted()
        except ApiFailure as failure:
            if required:
                raise
            log.warning("could not save the accepted keys in the vault yet: %s", failure.code)

    def _write_accepted(self):
        """PUT the vault with the accepted keys, made from (`base`) the copy last read."""
        extra = {**self._vault_extra, "peers": pins.write_peers(self.accepted)}
        pairs = list(self.key_pairs.values())  # the vault's order
        vault = _vault_for(self._secrets, self.username, pairs, extra)
        self.api.put_vault(self._secrets.auth, vault, base=self._vault)
        self._vault, self._vault_extra = vault, extra

    def _take_stored_vault(self, vault):
        """Adopt the vault another device stored: its fields, and the union of accepted keys
        (accepting only ever adds). Keys that changed there need a new login here."""
        try:
            plain = crypto.decrypt_vault(self._secrets.vault_key, self.username, vault)
        except crypto.CryptoError:
            raise AccountError("your password changed on another device; log in again") from None
        if set(_pairs_from_vault(plain)) != set(self.key_pairs):
            raise AccountError("your keys changed on another device; log in again")
        with self._lock:
            self._vault, self._vault_extra = vault, _extra_of(plain)
            self.accepted = pins.merge_peers(pins.read_peers(plain.get("peers")), self.accepted)

    def pin_friends(self):
        """Trust each friend's current key on first use (no accepted key yet); save in the vault."""
        added = False
        for friend in self.api.friends()["friends"]:
            kid = friend.get("key_id")
            if isinstance(kid, str) and not self.accepted.get(friend["id"]):
                self.accepted[friend["id"]] = {kid}
                added = True
        if added:
            self._save_accepted()

    def check_key(self, user_id, kid):
        """Judge a friend's key id: first use is trusted (and saved); a change raises the warning."""
        with self._lock:
            verdict = pins.judge(self.accepted.get(user_id), kid)
            if verdict == pins.FIRST_USE:
                self.accepted[user_id] = {kid}
        if verdict == pins.FIRST_USE:
            self._save_accepted()
            return pins.ACCEPTED
        if verdict == pins.CHANGED:
            with self._lock:
                self._warning(user_id)["pending"].add(kid)
        return verdict

    def is_unverified(self, envelope):
        """True when a friend's message names, as `sk`, a key the user has not accepted (§6)."""
        sender = envelope.get("from")
        if sender == self.id:
            return False
        with self._lock:
            accepted = self.accepted.get(sender)
        if not accepted:
            try:
                self.check_key(sender, self.peer_current_key(sender, check=False))
            except AccountError:
                return True  # no key to trust on first use: nothing vouches for this one
            with self._lock:
                accepted = self.accepted.get(sender)
        if pins.judge(accepted, envelope.get("sk")) == pins.ACCEPTED:
            return False
        with self._lock:
            self._warning(sender)["pending"].add(envelope.get("sk"))
        return True

    def accept_keys(self, user_id):
        """Accept a friend's current key and every key id their warning names; save in the vault."""
        current = self.peer_current_key(user_id, check=False)
        with self._lock:
            warning = self._warning(user_id)
            ids = set(warning["pending"])
            if current not in warning["rejected"]:
                ids.add(current)
            self.accepted.setdefault(user_id, set()).update(ids)
            warning["pending"].clear()
        self._save_accepted(required=True)
        return ids

    def peer_public(self, user_id, kid):
        """The public key `kid` of user `user_id`, fetched once (again if unknown)."""
        if user_id == self.id:
            pair = self.key_pairs.get(kid)
            if pair is None:
                raise crypto.CryptoError(f"key {kid} is not in your vault")
            return pair.public
        with self._lock:
            public = self._peer_keys.get(user_id, {}).get(kid)
        if public is None:
            public = self._load_peer_keys(user_id).get(kid)
        if public is None:
            raise crypto.CryptoError(f"user {user_id} has no key {kid}")
        return public

    def peer_current_key(self, user_id, check=True):
        """The key id a new message to `user_id` must be encrypted for (judged, §6, when `check`)."""
        with self._lock:
            current = self._peer_current.get(user_id)
        if current is None:
            self._load_peer_keys(user_id)
            with self._lock:
                current = self._peer_current.get(user_id)
        if current is None:
            raise AccountError(f"user {user_id} has no key yet (they must log in once)")
        if check:
            self.check_key(user_id, current)
        return current

    def pair_key(self, own_kid, peer_id, peer_kid):
        """The pair key for my key `own_kid` and `peer_id`'s key `peer_kid`, cached (§4)."""
        cache_key = (own_kid, peer_id, peer_kid)
        with self._lock:
            cached = self._pair_keys.get(cache_key)
        if cached is not None:
            return cached
        own = self.key_pairs.get(own_kid)
        if own is None:
            raise crypto.CryptoError(f"key {own_kid} is not in your vault")
        peer_public = self.peer_public(peer_id, peer_kid)
        if self.id < peer_id:
            lo_public, hi_public, lo, hi = own.public, peer_public, self.id, peer_id
        else:
            lo_public, hi_public, lo, hi = peer_public, own.public, peer_id, self.id
        key = crypto.pair_key(own.private, peer_public, lo, hi, lo_public, hi_public)
        with self._lock:
            self._pair_keys[cache_key] = key
        return key

    def safety_number(self, friend_id):
        """The 60 digits to compare with a friend for our two current keys (§6)."""
        own = self.key_pairs.get(self.current_key_id)
        if own is None:
            raise AccountError("your current key is not in your vault")
        peer = self.peer_public(friend_id, self.peer_current_key(friend_id))
        if self.id < friend_id:
            return crypto.safety_number(self.id, own.public, friend_id, peer)
        return crypto.safety_number(friend_id, peer, self.id, own.public)

    # --- §5: messages -------------------------------------------------------------------
    def sendable_key(self, friend_id, confirm_key_change=False):
        """The friend's current key id, if a message may be encrypted for it now (§6)."""
        peer_kid = self.peer_current_key(friend_id)
        warning = self.key_warning(friend_id) or {"pending": set(), "rejected": set()}
        if peer_kid in warning["rejected"]:
            raise KeyChangeError(f"the server gave a key for user {friend_id} that does not "
                                 "match its id; nothing was sent")
        if warning["pending"] and not confirm_key_change:
            raise KeyChangeError(f"the security key of user {friend_id} changed; compare safety "
                                 "numbers, then accept it with the `trust` command")
        return peer_kid

    def encrypt(self, friend_id, plain, cid=None, confirm_key_change=False):
        """Seal a plaintext message object for a friend into a `send` envelope (§5).

        :raises KeyChangeError: while the friend's key warning is unanswered (unless
            `confirm_key_change`), or when their key failed its check (§6).
        """
        own_kid = self.current_key_id
        if own_kid not in self.key_pairs:
            raise AccountError("your current key is not in your vault; log in again")
        peer_kid = self.sendable_key(friend_id, confirm_key_change)
        key = self.pair_key(own_kid, friend_id, peer_kid)
        envelope = crypto.encrypt_message(key, self.id, friend_id, own_kid, peer_kid, plain,
                                          cid=cid)
        if len(envelope["ct"]) > MAX_CIPHERTEXT_CHARS:
            raise AccountError("the message is too long")
        return envelope

    def encrypt_text(self, friend_id, text, cid=None, confirm_key_change=False):
        """A `text` message envelope (§5)."""
        if not isinstance(text, str):
            raise TypeError("text must be a str")
        return self.encrypt(friend_id, {"t": "text", "body": text, "sent": now_ms()}, cid=cid,
                            confirm_key_change=confirm_key_change)

    def encrypt_file_message(self, friend_id, blob_id, name, mime, size, encrypted, cid=None):
        """A `file` message envelope carrying the key of an uploaded attachment (§5).

        :param encrypted: the `crypto.EncryptedFile` whose ciphertext was uploaded as `blob_id`.
        """
        return self.encrypt(friend_id, file_plain(blob_id, name, mime, size, encrypted), cid=cid)

    def upload_file(self, friend_id, data, name, mime="application/octet-stream", cid=None):
        """Encrypt an attachment, upload the ciphertext, return the `file` envelope (§5)."""
        data = bytes(data)
        self.sendable_key(friend_id)  # refuse before uploading anything
        encrypted = crypto.encrypt_file(data)
        blob_id = self.api.upload_blob(friend_id, encrypted.ciphertext)
        return self.encrypt_file_message(friend_id, blob_id, name, mime, len(data), encrypted,
                                         cid=cid)

    def download_file(self, plain):
        """Fetch and decrypt the attachment a decrypted `file` message names; check its digest."""
        if plain.get("t") != "file":
            raise AccountError("this message carries no file")
        try:
            key = b64url_decode(plain["key"], crypto.KEY_BYTES)
            nonce = b64url_decode(plain["n"], crypto.NONCE_BYTES)
            blob_id, digest = plain["blob"], plain["sha256"]
        except (KeyError, TypeError, ValueError):
            raise crypto.CryptoError("the file message is malformed") from None
        return crypto.decrypt_file(self.api.download_blob(blob_id), key, nonce, digest)

    def peer_of(self, envelope):
        """The other person of a stored envelope (the friend it was to or from)."""
        return envelope["to"] if envelope["from"] == self.id else envelope["from"]

    def decrypt(self, envelope):
        """Open a relayed envelope (mine or a friend's) into its plaintext object (§5).

        :raises crypto.CryptoError: when it cannot be opened (show "could not decrypt").
        :raises ApiFailure: when the sender's keys cannot be fetched.
        """
        try:
            sender, recipient = envelope["from"], envelope["to"]
            sk, rk = envelope["sk"], envelope["rk"]
        except (KeyError, TypeError):
            raise crypto.CryptoError("the envelope is malformed") from None
        if sender == self.id:
            own_kid, peer_id, peer_kid = sk, recipient, rk
        elif recipient == self.id:
            own_kid, peer_id, peer_kid = rk, sender, sk
        else:
            raise crypto.CryptoError("this envelope is not addressed to me")
        if not isinstance(peer_id, int) or isinstance(peer_id, bool) or peer_id == self.id:
            raise crypto.CryptoError("the envelope names an invalid peer")
        return crypto.decrypt_message(self.pair_key(own_kid, peer_id, peer_kid), envelope)


__all__ = ["Account", "AccountError", "ApiFailure", "KeyChangeError", "KeyPair",
           "clean_username", "now_ms"]
