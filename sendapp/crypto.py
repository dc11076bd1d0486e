"""Protocol cryptography for Python clients and tests (PROTOCOL §2-§6).

Every algorithm choice and every domain-separation label is named once, at
the top of this module. Nothing here logs, and nothing imports Flask: the
server never calls the encrypting half, it only stores ciphertext.
"""
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .encoding import b64url_decode, b64url_encode, utf8

# --- Algorithm choices (named once) -------------------------------------------
PROTOCOL_VERSION = 1
KEY_BYTES = 32  # AES-256-GCM keys, PBKDF2/HKDF outputs, X25519 keys
NONCE_BYTES = 12  # AES-GCM nonce
CID_BYTES = 16  # client message id
KEY_ID_BYTES = 9  # SHA-256 prefix naming a public key (12 base64url chars)
PAD_BLOCK = 32  # message plaintexts are padded to a multiple of this
PAD_MARK = 0x80
SAFETY_GROUPS = 12
SAFETY_MODULUS = 100_000

# --- Domain-separation labels (PROTOCOL §2-§6) ---------------------------------
LABEL = "sendapp/v1/"
SALT_PREFIX = LABEL + "user:"
INFO_AUTH = LABEL + "auth"
INFO_VAULT = LABEL + "vault"
AAD_VAULT_PREFIX = LABEL + "vault|"
INFO_PAIR_PREFIX = LABEL + "pair|"
AAD_MSG_PREFIX = LABEL + "msg|"
AAD_FILE = LABEL + "file"
SAFETY_PREFIX = LABEL + "safety|"

_B64URL_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class CryptoError(Exception):
    """Decryption, integrity or key-agreement failure; the message never holds secrets."""


@dataclass(frozen=True)
class AccountSecrets:
    """What a password yields (§2): send `auth`, keep `vault_key`, forget `master`."""

    master: bytes
    auth_key: bytes
    vault_key: bytes
    auth: str

    def __repr__(self):
        """Keep secrets out of logs and tracebacks."""
        return "AccountSecrets(<redacted>)"


@dataclass(frozen=True)
class EncryptedFile:
    """An attachment ready to upload (§5); `sha256` is the plaintext digest, b64url."""

    ciphertext: bytes
    key: bytes
    nonce: bytes
    sha256: str

    def __repr__(self):
        """Keep the file key out of logs and tracebacks."""
        return f"EncryptedFile(<{len(self.ciphertext)} bytes>, sha256={self.sha256!r})"


# --- Primitives ----------------------------------------------------------------
def _hkdf(ikm: bytes, info: str) -> bytes:
    """Expand key material with HKDF-SHA256, empty salt, 32 bytes (§2, §4)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"", info=utf8(info)).derive(ikm)


def _seal(key: bytes, nonce: bytes, plain: bytes, aad: bytes) -> bytes:
    """Encrypt with AES-256-GCM, the protocol's only cipher."""
    _require_len(key, KEY_BYTES, "key")
    _require_len(nonce, NONCE_BYTES, "nonce")
    return AESGCM(key).encrypt(nonce, plain, aad)


def _open(key: bytes, nonce: bytes, ct: bytes, aad: bytes) -> bytes:
    """Decrypt AES-256-GCM, turning every failure into CryptoError."""
    try:
        _require_len(key, KEY_BYTES, "key")
        _require_len(nonce, NONCE_BYTES, "nonce")
        return AESGCM(key).decrypt(nonce, ct, aad)
    except (InvalidTag, ValueError, TypeError) as exc:
        raise CryptoError("decryption failed") from exc


def _nonce(nonce: bytes | None) -> bytes:
    """Return the test-supplied nonce, or a fresh random one for every encryption."""
    return os.urandom(NONCE_BYTES) if nonce is None else nonce


def _require_len(value, length: int, what: str) -> None:
    """Refuse key material of the wrong type or size before it reaches a primitive."""
    if not isinstance(value, (bytes, bytearray)) or len(value) != length:
        raise ValueError(f"{what} must be {length} bytes")


def _u(value) -> str:
    """Render a user id as decimal ASCII, u(x) in the protocol (§1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("user ids must be non-negative integers")
    return str(value)


def _ordered(lo: int, hi: int) -> tuple[str, str]:
    """Render lo and hi, refusing them swapped: pair-bound values depend on the order (§4, §6)."""
    lo_text, hi_text = _u(lo), _u(hi)
    if lo >= hi:
        raise ValueError("lo must be the smaller user id")
    return lo_text, hi_text


def _json_bytes(obj) -> bytes:
    """Serialise compact UTF-8 JSON, byte-identical to JavaScript's JSON.stringify (§1)."""
    return utf8(json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


def _json_object(data: bytes) -> dict:
    """Parse UTF-8 JSON that must be an object, or raise CryptoError."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CryptoError("decrypted data is not JSON") from exc
    if not isinstance(obj, dict):
        raise CryptoError("decrypted JSON is not an object")
    return obj


def _field(container: dict, name: str, length: int | None = None) -> bytes:
    """Decode one base64url field of a received object, or raise CryptoError."""
    try:
        return b64url_decode(container[name], length)
    except (KeyError, TypeError, ValueError) as exc:
        raise CryptoError(f"field {name!r} is missing or malformed") from exc


# --- §2 Account secrets ----------------------------------------------------------
def normalise_password(password: str) -> str:
    """NFKC-normalise a password so every keyboard and OS yields the same bytes (§1)."""
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    return unicodedata.normalize("NFKC", password)


def derive_account_secrets(username: str, password: str, iterations: int) -> AccountSecrets:
    """Derive master, auth and vault keys from the password, client-side only (§2).

    :param username: already normalised by sendapp.validation (it salts PBKDF2).
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError("iterations must be a positive integer")
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=utf8(SALT_PREFIX + username),
        iterations=iterations,
    )
    master = kdf.derive(utf8(normalise_password(password)))
    auth_key = _hkdf(master, INFO_AUTH)
    vault_key = _hkdf(master, INFO_VAULT)
    return AccountSecrets(master=master, auth_key=auth_key, vault_key=vault_key,
                          auth=b64url_encode(auth_key))


# --- §3 Identity keys and the vault ------------------------------------------------
def generate_identity() -> tuple[bytes, bytes]:
    """Create a fresh X25519 identity key pair as (private_raw, public_raw) (§3)."""
    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def public_from_private(private_raw: bytes) -> bytes:
    """Recompute the X25519 public key, e.g. to check a vault entry (§3)."""
    _require_len(private_raw, KEY_BYTES, "private key")
    return X25519PrivateKey.from_private_bytes(bytes(private_raw)).public_key().public_bytes_raw()


def key_id(public_raw: bytes) -> str:
    """Name a public key by b64url(SHA-256(public_raw)[0:9]) (§3)."""
    _require_len(public_raw, KEY_BYTES, "public key")
    return b64url_encode(hashlib.sha256(bytes(public_raw)).digest()[:KEY_ID_BYTES])


def vault_entry(private_raw: bytes, public_raw: bytes, created_ms: int) -> dict:
    """Build one vault key record, keys in the vector's order (§3)."""
    return {
        "id": key_id(public_raw),
        "d": b64url_encode(private_raw),
        "x": b64url_encode(public_raw),
        "created": created_ms,
    }


def _vault_aad(username: str) -> bytes:
    """Bind a vault to its owner so the server cannot swap vaults between users (§3)."""
    return utf8(AAD_VAULT_PREFIX + username)


def encrypt_vault(vault_key: bytes, username: str, keys: list[dict],
                  nonce: bytes | None = None, extra: dict | None = None) -> dict:
    """Encrypt the private-key list for storage on the server (§3).

    :param extra: the other vault_plain fields (``peers``, and any a newer client wrote).
    """
    nonce = _nonce(nonce)
    plain = _json_bytes({**(extra or {}), "v": PROTOCOL_VERSION, "keys": list(keys)})
    ct = _seal(vault_key, nonce, plain, _vault_aad(username))
    return {"v": PROTOCOL_VERSION, "n": b64url_encode(nonce), "ct": b64url_encode(ct)}


def decrypt_vault(vault_key: bytes, username: str, vault: dict) -> dict:
    """Decrypt a stored vault into its vault_plain object, or raise CryptoError (§3)."""
    if not isinstance(vault, dict) or vault.get("v") != PROTOCOL_VERSION:
        raise CryptoError("unsupported vault version")
    nonce = _field(vault, "n", NONCE_BYTES)
    ct = _field(vault, "ct")
    plain = _json_object(_open(vault_key, nonce, ct, _vault_aad(username)))
    if plain.get("v") != PROTOCOL_VERSION or not isinstance(plain.get("keys"), list):
        raise CryptoError("vault content is malformed")
    return plain


# --- §4 Pair key -----------------------------------------------------------------------
def _pair_info(lo: int, hi: int, lo_public: bytes, hi_public: bytes) -> str:
    """Bind the pair key to both ids and both key pairs in use (§4).

    `lo` = `hi` is allowed only with one key on both sides: the self pair that
    wraps a group message key for the sender's own devices (§9.4).
    """
    if lo == hi and bytes(lo_public) == bytes(hi_public):
        lo_text = hi_text = _u(lo)
    else:
        lo_text, hi_text = _ordered(lo, hi)
    return (INFO_PAIR_PREFIX + lo_text + "|" + hi_text + "|"
            + b64url_encode(lo_public) + "|" + b64url_encode(hi_public))


def pair_key(own_private: bytes, peer_public: bytes, lo: int, hi: int,
             lo_public: bytes, hi_public: bytes) -> bytes:
    """Derive the 32-byte AES key two friends share for one pair of key pairs (§4).

    With `lo` = `hi` and one key on both sides this is the self pair key (§9.4).
    """
    _require_len(own_private, KEY_BYTES, "private key")
    _require_len(peer_public, KEY_BYTES, "peer public key")
    info = _pair_info(lo, hi, lo_public, hi_public)
    own_public = public_from_private(own_private)
    if {bytes(own_public), bytes(peer_public)} != {bytes(lo_public), bytes(hi_public)}:
        raise CryptoError("own and peer keys must be the pair's lo and hi keys")
    try:
        shared = X25519PrivateKey.from_private_bytes(bytes(own_private)).exchange(
            X25519PublicKey.from_public_bytes(bytes(peer_public)))
    except ValueError as exc:  # low-order peer point: all-zero shared secret
        raise CryptoError("key agreement failed") from exc
    return _hkdf(shared, info)


# --- §5 Messages ---------------------------------------------------------------------------
def pad(data: bytes) -> bytes:
    """Append 0x80 then zeros up to a multiple of 32 so sizes leak only coarsely (§5)."""
    data = bytes(data) + bytes([PAD_MARK])
    return data + bytes(-len(data) % PAD_BLOCK)


def unpad(data: bytes) -> bytes:
    """Strip canonical §5 padding, or raise CryptoError if it is not exactly that."""
    data = bytes(data)
    if not data or len(data) % PAD_BLOCK:
        raise CryptoError("padded data has a bad length")
    body = data.rstrip(b"\x00")
    if not body or body[-1] != PAD_MARK or len(data) - len(body) >= PAD_BLOCK:
        raise CryptoError("bad padding")
    return body[:-1]


def _token(value, what: str) -> str:
    """Accept a non-empty base64url token, which can never contain the AAD separator."""
    if not isinstance(value, str) or not _B64URL_TOKEN.fullmatch(value):
        raise ValueError(f"{what} must be a base64url string")
    return value


def message_aad(sender: int, recipient: int, cid: str, sk: str, rk: str) -> bytes:
    """Build the AAD that pins sender, recipient, cid and both key ids (§5)."""
    return utf8(AAD_MSG_PREFIX + "|".join(
        (_u(sender), _u(recipient), _token(cid, "cid"), _token(sk, "sk"), _token(rk, "rk"))))


def new_cid() -> str:
    """Make a client message id: 16 random bytes, b64url (§5)."""
    return b64url_encode(secrets.token_bytes(CID_BYTES))


def encrypt_message(pair_key: bytes, sender: int, recipient: int, sk: str, rk: str,
                    plain: dict, cid: str | None = None, nonce: bytes | None = None) -> dict:
    """Encrypt a message object into the envelope a client emits with `send` (§5)."""
    if not isinstance(plain, dict):
        raise TypeError("plain must be a dict")
    cid = new_cid() if cid is None else cid
    nonce = _nonce(nonce)
    aad = message_aad(sender, recipient, cid, sk, rk)
    ct = _seal(pair_key, nonce, pad(_json_bytes(plain)), aad)
    return {"v": PROTOCOL_VERSION, "cid": cid, "to": recipient, "sk": sk, "rk": rk,
            "n": b64url_encode(nonce), "ct": b64url_encode(ct)}


def decrypt_message(pair_key: bytes, envelope: dict) -> dict:
    """Decrypt a relayed envelope (with server-set `from`), or raise CryptoError (§5)."""
    if not isinstance(envelope, dict) or envelope.get("v") != PROTOCOL_VERSION:
        raise CryptoError("unsupported envelope version")
    try:
        aad = message_aad(envelope["from"], envelope["to"], envelope["cid"],
                          envelope["sk"], envelope["rk"])
    except (KeyError, ValueError) as exc:
        raise CryptoError("envelope is malformed") from exc
    nonce = _field(envelope, "n", NONCE_BYTES)
    ct = _field(envelope, "ct")
    return _json_object(unpad(_open(pair_key, nonce, ct, aad)))


# --- §5 Attachments ----------------------------------------------------------------------
def _sha256_b64(data: bytes) -> str:
    """Digest that a `file` message carries: SHA-256 of the plaintext, b64url (§5)."""
    return b64url_encode(hashlib.sha256(data).digest())


def encrypt_file(data: bytes, key: bytes | None = None,
                 nonce: bytes | None = None) -> EncryptedFile:
    """Encrypt an attachment under a fresh file key before upload (§5).

    `sha256` is the digest of the *plaintext* (as the `file` vector pins), so
    the receiver checks it after decryption.
    """
    key = secrets.token_bytes(KEY_BYTES) if key is None else key
    nonce = _nonce(nonce)
    ct = _seal(key, nonce, bytes(data), utf8(AAD_FILE))
    return EncryptedFile(ciphertext=ct, key=key, nonce=nonce, sha256=_sha256_b64(data))


def decrypt_file(ciphertext: bytes, key: bytes, nonce: bytes, sha256: str | None) -> bytes:
    """Decrypt a downloaded blob and check the plaintext SHA-256, or raise CryptoError (§5).

    :param sha256: b64url SHA-256 of the plaintext from the `file` message; None skips it.
    """
    data = _open(key, nonce, bytes(ciphertext), utf8(AAD_FILE))
    if sha256 is not None and not hmac.compare_digest(utf8(_sha256_b64(data)), utf8(sha256)):
        raise CryptoError("file digest mismatch")
    return data


# --- §6 Safety numbers ---------------------------------------------------------------------
def safety_number(lo: int, lo_public: bytes, hi: int, hi_public: bytes) -> str:
    """Compute the 60 digits both friends compare to detect a swapped key (§6)."""
    lo_text, hi_text = _ordered(lo, hi)
    digest = hashlib.sha512(
        utf8(SAFETY_PREFIX + lo_text + "|") + bytes(lo_public)
        + utf8("|" + hi_text + "|") + bytes(hi_public)).digest()
    groups = (int.from_bytes(digest[5 * i:5 * i + 5], "big") % SAFETY_MODULUS
              for i in range(SAFETY_GROUPS))
    return " ".join(f"{g:05d}" for g in groups)
