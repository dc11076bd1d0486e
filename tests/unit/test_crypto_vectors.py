"""Protocol cryptography against the shared vectors, round trips and tamper cases (PROTOCOL §1-§6)."""
import hashlib
import json
import os
from pathlib import Path

import pytest

from sendapp import crypto
from sendapp.crypto import CryptoError
from sendapp.encoding import b64url_decode, b64url_encode, utf8
from support.tamper import d, flip, flip_b64

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "protocol-vectors.json").read_text("utf-8"))
KEYS = {k["user_id"]: k for k in VECTORS["keys"]}
PAIR_KEY = b64url_decode(VECTORS["pair"][0]["pair_key"])
ALICE, BOB = KEYS[1], KEYS[2]


def received(vector):
    """Turn a message vector into the envelope a receiver gets (server adds `from`)."""
    return {**vector["envelope"], "from": vector["from"], "id": 7, "ts": 1}


# --- Vectors ----------------------------------------------------------------------------
@pytest.mark.parametrize("v", VECTORS["accounts"], ids=lambda v: f"{v['username']}-{v['iterations']}")
def test_account_secrets_match_vector(v):
    secrets = crypto.derive_account_secrets(v["username"], v["password"], v["iterations"])
    assert b64url_encode(secrets.master) == v["master"]
    assert b64url_encode(secrets.auth_key) == v["auth_key"]
    assert secrets.auth == v["auth"]
    assert b64url_encode(secrets.vault_key) == v["vault_key"]
    assert v["salt"] == crypto.SALT_PREFIX + v["username"]


def test_account_secrets_normalise_password_nfkc():
    v = VECTORS["accounts"][1]
    decomposed = "pa\u0308ssw\u00f6rd-A\u030a\u2126"  # ä, Å and Ω in other Unicode spellings
    assert crypto.normalise_password(decomposed) == v["password"]
    assert crypto.derive_account_secrets(v["username"], decomposed, 1000).auth == v["auth"]


def test_account_secrets_repr_hides_keys():
    secrets = crypto.derive_account_secrets("alice", "correct horse battery staple", 1000)
    assert secrets.auth not in repr(secrets)


@pytest.mark.parametrize("v", VECTORS["keys"], ids=lambda v: v["username"])
def test_identity_keys_match_vector(v):
    assert b64url_encode(crypto.public_from_private(d(v["private"]))) == v["public"]
    assert crypto.key_id(d(v["public"])) == v["key_id"]
    assert len(v["key_id"]) == 12


@pytest.mark.parametrize("own, peer", [(ALICE, BOB), (BOB, ALICE)], ids=["alice", "bob"])
def test_pair_key_matches_vector_from_both_sides(own, peer):
    v = VECTORS["pair"][0]
    key = crypto.pair_key(d(own["private"]), d(peer["public"]), v["lo"], v["hi"],
                          d(v["lo_public"]), d(v["hi_public"]))
    assert b64url_encode(key) == v["pair_key"]
    assert crypto._pair_info(v["lo"], v["hi"], d(v["lo_public"]), d(v["hi_public"])) == v["info"]


@pytest.mark.parametrize("v", VECTORS["messages"], ids=lambda v: v["envelope"]["cid"])
def test_message_encrypts_to_vector(v):
    env = v["envelope"]
    plain = json.loads(v["plain_json"])
    assert crypto.pad(utf8(v["plain_json"])) == d(v["padded"])
    assert crypto.message_aad(v["from"], v["to"], env["cid"], env["sk"], env["rk"]) == utf8(v["aad"])
    out = crypto.encrypt_message(d(v["pair_key"]), v["from"], v["to"], env["sk"], env["rk"], plain,
                                 cid=env["cid"], nonce=d(env["n"]))
    assert out == env
    assert list(out) == list(env)


@pytest.mark.parametrize("v", VECTORS["messages"], ids=lambda v: v["envelope"]["cid"])
def test_message_vector_decrypts(v):
    assert crypto.decrypt_message(d(v["pair_key"]), received(v)) == json.loads(v["plain_json"])


@pytest.mark.parametrize("v", VECTORS["messages_must_fail"], ids=lambda v: v["why"])
def test_message_must_fail_vector(v):
    with pytest.raises(CryptoError):
        crypto._open(d(v["pair_key"]), d(v["n"]), d(v["ct"]), utf8(v["aad"]))


def test_relabelled_sender_fails_through_decrypt_message():
    v = VECTORS["messages"][0]
    with pytest.raises(CryptoError):
        crypto.decrypt_message(PAIR_KEY, {**received(v), "from": 2, "to": 1})


@pytest.mark.parametrize("v", VECTORS["vault"], ids=lambda v: v["username"])
def test_vault_encrypts_to_vector(v):
    plain = json.loads(v["plain"])
    entries = [crypto.vault_entry(d(k["d"]), d(k["x"]), k["created"]) for k in plain["keys"]]
    assert entries == plain["keys"]
    assert crypto._json_bytes({"v": 1, "keys": entries}) == utf8(v["plain"])
    out = crypto.encrypt_vault(d(v["vault_key"]), v["username"], entries, nonce=d(v["vault"]["n"]))
    assert out == v["vault"]
    assert crypto._vault_aad(v["username"]) == utf8(v["aad"])


@pytest.mark.parametrize("v", VECTORS["vault"], ids=lambda v: v["username"])
def test_vault_vector_decrypts(v):
    assert crypto.decrypt_vault(d(v["vault_key"]), v["username"], v["vault"]) == json.loads(v["plain"])


def test_vault_key_of_vector_comes_from_account_vector():
    v = VECTORS["vault"][0]
    account = next(a for a in VECTORS["accounts"] if a["username"] == v["username"] and a["iterations"] == 1000)
    assert account["vault_key"] == v["vault_key"]


@pytest.mark.parametrize("v", VECTORS["safety"], ids=lambda v: f"{v['lo']}-{v['hi']}")
def test_safety_number_matches_vector(v):
    number = crypto.safety_number(v["lo"], d(v["lo_public"]), v["hi"], d(v["hi_public"]))
    assert number == v["safety"]
    assert [len(g) for g in number.split(" ")] == [5] * 12


@pytest.mark.parametrize("v", VECTORS["file"], ids=lambda v: v["n"])
def test_file_encrypts_to_vector_with_plaintext_digest(v):
    out = crypto.encrypt_file(d(v["plain"]), key=d(v["key"]), nonce=d(v["n"]))
    assert b64url_encode(out.ciphertext) == v["ct"]
    assert out.sha256 == v["sha256"]
    assert crypto.AAD_FILE == v["aad"]
    assert crypto.decrypt_file(d(v["ct"]), d(v["key"]), d(v["n"]), v["sha256"]) == d(v["plain"])


@pytest.mark.parametrize("v", VECTORS["padding"], ids=lambda v: str(len(v["in"])))
def test_padding_matches_vector(v):
    assert crypto.pad(d(v["in"])) == d(v["out"])
    assert crypto.unpad(d(v["out"])) == d(v["in"])


# --- Round trips ------------------------------------------------------------------------------
def test_identity_round_trip_and_pair_agreement():
    a_priv, a_pub = crypto.generate_identity()
    b_priv, b_pub = crypto.generate_identity()
    assert crypto.public_from_private(a_priv) == a_pub
    assert len(a_priv) == len(a_pub) == 32
    k1 = crypto.pair_key(a_priv, b_pub, 5, 9, a_pub, b_pub)
    k2 = crypto.pair_key(b_priv, a_pub, 5, 9, a_pub, b_pub)
    assert k1 == k2 and len(k1) == 32


@pytest.mark.parametrize("size", [0, 1, 30, 31, 32, 33, 1000])
def test_message_round_trip(size):
    body = os.urandom(size).hex()[:size] + "é🔐"
    plain = {"t": "text", "body": body, "sent": 1}
    env = crypto.encrypt_message(PAIR_KEY, 1, 2, ALICE["key_id"], BOB["key_id"], plain)
    assert len(b64url_decode(env["cid"])) == 16 and len(b64url_decode(env["n"])) == 12
    assert (len(b64url_decode(env["ct"])) - 16) % 32 == 0
    assert crypto.decrypt_message(PAIR_KEY, {**env, "from": 1}) == plain


def test_each_encryption_uses_a_fresh_nonce_and_cid():
    plain = {"t": "text", "body": "same", "sent": 1}
    a = crypto.encrypt_message(PAIR_KEY, 1, 2, "a", "b", plain)
    b = crypto.encrypt_message(PAIR_KEY, 1, 2, "a", "b", plain)
    assert a["n"] != b["n"] and a["cid"] != b["cid"] and a["ct"] != b["ct"]
    assert crypto.encrypt_vault(PAIR_KEY, "alice", [])["n"] != crypto.encrypt_vault(PAIR_KEY, "alice", [])["n"]


def test_vault_round_trip_with_random_keys():
    key = os.urandom(32)
    entries = [crypto.vault_entry(*crypto.generate_identity(), created_ms=i) for i in range(3)]
    vault = crypto.encrypt_vault(key, "bob", entries)
    assert crypto.decrypt_vault(key, "bob", vault) == {"v": 1, "keys": entries}


@pytest.mark.parametrize("size", [0, 1, 65_537])
def test_file_round_trip(size):
    data = os.urandom(size)
    out = crypto.encrypt_file(data)
    assert len(out.key) == 32 and len(out.nonce) == 12
    assert crypto.decrypt_file(out.ciphertext, out.key, out.nonce, out.sha256) == data
    assert crypto.decrypt_file(out.ciphertext, out.key, out.nonce, None) == data


@pytest.mark.parametrize("size", range(0, 70))
def test_pad_round_trip_every_length(size):
    data = os.urandom(size)
    padded = crypto.pad(data)
    assert len(padded) % 32 == 0 and len(data) < len(padded) <= len(data) + 32
    assert crypto.unpad(padded) == data


def test_new_cid_is_16_random_bytes():
    cids = {crypto.new_cid() for _ in range(50)}
    assert len(cids) == 50
    assert all(len(b64url_decode(c, 16)) == 16 and len(c) == 22 for c in cids)


# --- Tamper cases --------------------------------------------------------------------------------
MSG = VECTORS["messages"][0]


@pytest.mark.parametrize("field, index", [("ct", 0), ("ct", 40), ("ct", -1), ("n", 0), ("n", 11)])
def test_message_flipped_bit_fails(field, index):
    env = received(MSG)
    env[field] = flip_b64(env[field], index)
    with pytest.raises(CryptoError):
        crypto.decrypt_message(PAIR_KEY, env)


@pytest.mark.parametrize("change", [
    {"from": 3}, {"to": 3}, {"cid": "AAAAAAAAAAAAAAAAAAAAAQ"}, {"sk": "Zc9cmx3l1B91"},
    {"rk": "0Zvz8IJ4LIe3"}, {"v": 2}, {"n": "AAAA"}, {"ct": "not base64!"}, {"from": "1"},
    {"cid": "a|b"},
], ids=repr)
def test_message_changed_aad_or_field_fails(change):
    with pytest.raises(CryptoError):
        crypto.decrypt_message(PAIR_KEY, {**received(MSG), **change})


@pytest.mark.parametrize("missing", ["from", "to", "cid", "sk", "rk", "n", "ct", "v"])
def test_message_missing_field_fails(missing):
    env = received(MSG)
    del env[missing]
    with pytest.raises(CryptoError):
        crypto.decrypt_message(PAIR_KEY, env)


def test_message_wrong_key_fails():
    with pytest.raises(CryptoError):
        crypto.decrypt_message(flip(PAIR_KEY), received(MSG))


def test_message_with_bad_padding_inside_fails():
    env = received(MSG)
    aad = crypto.message_aad(1, 2, env["cid"], env["sk"], env["rk"])
    bad = crypto._seal(PAIR_KEY, bytes(12), b"{}" + bytes(30), aad)
    with pytest.raises(CryptoError):
        crypto.decrypt_message(PAIR_KEY, {**env, "n": b64url_encode(bytes(12)), "ct": b64url_encode(bad)})


def test_message_non_object_plaintext_fails():
    env = received(MSG)
    aad = crypto.message_aad(1, 2, env["cid"], env["sk"], env["rk"])
    ct = crypto._seal(PAIR_KEY, bytes(12), crypto.pad(b"[1,2]"), aad)
    with pytest.raises(CryptoError):
        crypto.decrypt_message(PAIR_KEY, {**env, "n": b64url_encode(bytes(12)), "ct": b64url_encode(ct)})


VAULT = VECTORS["vault"][0]


@pytest.mark.parametrize("change", [
    {"ct": flip_b64(VAULT["vault"]["ct"])}, {"ct": flip_b64(VAULT["vault"]["ct"], -1)},
    {"n": flip_b64(VAULT["vault"]["n"])}, {"v": 2}, {"n": None}, {"ct": 5},
], ids=["ct0", "tag", "n", "version", "n-none", "ct-int"])
def test_vault_tamper_fails(change):
    with pytest.raises(CryptoError):
        crypto.decrypt_vault(d(VAULT["vault_key"]), VAULT["username"], {**VAULT["vault"], **change})


def test_vault_of_other_user_fails():
    with pytest.raises(CryptoError):
        crypto.decrypt_vault(d(VAULT["vault_key"]), "bob", VAULT["vault"])


def test_vault_wrong_key_fails():
    with pytest.raises(CryptoError):
        crypto.decrypt_vault(flip(d(VAULT["vault_key"])), VAULT["username"], VAULT["vault"])


FILE = VECTORS["file"][0]


@pytest.mark.parametrize("what", ["ct", "n", "key", "sha256"])
def test_file_tamper_fails(what):
    args = {"ct": d(FILE["ct"]), "key": d(FILE["key"]), "n": d(FILE["n"]), "sha256": FILE["sha256"]}
    args[what] = flip_b64(args[what]) if what == "sha256" else flip(args[what], 3)
    with pytest.raises(CryptoError):
        crypto.decrypt_file(args["ct"], args["key"], args["n"], args["sha256"])


def test_file_digest_of_ciphertext_is_rejected():
    ct = d(FILE["ct"])
    wrong = b64url_encode(hashlib.sha256(ct).digest())
    with pytest.raises(CryptoError):
        crypto.decrypt_file(ct, d(FILE["key"]), d(FILE["n"]), wrong)


@pytest.mark.parametrize("data", [
    b"", b"\x80", bytes(32), b"a" * 32, b"a\x80" + bytes(29) + b"\x01",
    b"\x80" + bytes(63), b"a" * 31 + b"\x00", b"a\x80" + bytes(30) + bytes(32), b"a\x80" + bytes(29),
], ids=["empty", "short", "zeros", "no-mark", "trailing-data", "too-much-padding",
        "zero-not-mark", "extra-block", "bad-length"])
def test_bad_padding_fails(data):
    with pytest.raises(CryptoError):
        crypto.unpad(data)


def test_pair_key_refuses_low_order_peer_point():
    own_priv, own_pub = crypto.generate_identity()
    zero = bytes(32)
    with pytest.raises(CryptoError):
        crypto.pair_key(own_priv, zero, 1, 2, own_pub, zero)


def test_pair_key_refuses_keys_outside_the_pair():
    other_priv, _ = crypto.generate_identity()
    with pytest.raises(CryptoError):
        crypto.pair_key(other_priv, d(BOB["public"]), 1, 2, d(ALICE["public"]), d(BOB["public"]))


@pytest.mark.parametrize("lo, hi", [(2, 1), (1, 1), (True, 2), ("1", 2), (-1, 2)])
def test_pair_ids_must_be_ordered_integers(lo, hi):
    with pytest.raises(ValueError):
        crypto.pair_key(d(ALICE["private"]), d(BOB["public"]), lo, hi, d(ALICE["public"]), d(BOB["public"]))
    with pytest.raises(ValueError):
        crypto.safety_number(lo, d(ALICE["public"]), hi, d(BOB["public"]))


def test_safety_number_changes_with_any_key():
    v = VECTORS["safety"][0]
    other = crypto.safety_number(v["lo"], flip(d(v["lo_public"])), v["hi"], d(v["hi_public"]))
    assert other != v["safety"]


# --- Strict base64url (§1) --------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64url_round_trip(data):
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data
    assert b64url_decode(text, len(data)) == data


@pytest.mark.parametrize("bad", [
    "YQ==", "YQ=", "Y", "YWJjZ", "+/8", "a/8", "a+8", "YW Jj", "YWJj\n", " YWJj", "ä", "YR", "YWF",
    "AAAAAAAAAAAAAAAAAAAAAB", "٣٣٣٣", b"YWJj", None, 12, ["YQ"],
], ids=repr)
def test_b64url_decode_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        b64url_decode(bad)


@pytest.mark.parametrize("text, length", [("YQ", 2), ("YWJj", 2), ("", 1), ("AAAAAAAAAAAAAAAA", 11)])
def test_b64url_decode_rejects_wrong_length(text, length):
    with pytest.raises(ValueError):
        b64url_decode(text, length)
