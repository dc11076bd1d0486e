"""Group cryptography against the shared vectors, round trips and tamper cases (PROTOCOL §9.3, §9.4, §9.6)."""
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sendapp import crypto
from sendapp import group_crypto as gc
from sendapp.crypto import CryptoError
from sendapp.encoding import b64url_decode, b64url_encode, utf8
from support.tamper import d, flip, flip_b64

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "group-vectors.json").read_text("utf-8"))
KEYS = {k["user_id"]: k for k in VECTORS["keys"]}
MESSAGES = {m["name"]: m for m in VECTORS["messages"]}
TEXT = MESSAGES["text"]
DELIVERED = VECTORS["delivered"][0]
G = VECTORS["group"]["id"]


def private(user):
    return d(KEYS[user]["private"])


def public(user):
    return d(KEYS[user]["public"])


def member_pair_key(me, other):
    """The pair key `me` derives with `other` from the vector keys (self pair when equal)."""
    return gc.group_pair_key(private(me), me, other, public(other))


def received(message, user):
    """The copy `user` receives of a message vector: server fields added, only its own entry (§9.5)."""
    env = message["envelope"]
    entry = next(e for e in env["keys"] if e["to"] == user)
    return {"v": 1, "id": 101, "from": message["from"], "ts": 1, "g": env["g"], "cid": env["cid"],
            "sk": env["sk"], "n": env["n"], "ct": env["ct"], "keys": [dict(entry)]}


def bob_copy():
    """A fresh copy of the delivered vector envelope, safe to change."""
    env = json.loads(json.dumps(DELIVERED["envelope"]))
    return env


BOB_PAIR = d(next(p for p in VECTORS["pairs"] if (p["lo"], p["hi"]) == (1, 2))["pair_key"])


# --- Vectors: keys and pair keys -----------------------------------------------------------
@pytest.mark.parametrize("v", VECTORS["keys"], ids=lambda v: v["username"])
def test_identity_keys_match_vector(v):
    assert b64url_encode(crypto.public_from_private(d(v["private"]))) == v["public"]
    assert crypto.key_id(d(v["public"])) == v["key_id"]


@pytest.mark.parametrize("v", VECTORS["pairs"], ids=lambda v: f"{v['lo']}-{v['hi']}")
def test_pair_key_matches_vector_from_both_sides(v):
    lo, hi = v["lo"], v["hi"]
    shared = X25519PrivateKey.from_private_bytes(private(lo)).exchange(
        X25519PublicKey.from_public_bytes(d(v["hi_public"])))
    assert b64url_encode(shared) == v["shared"]
    assert crypto._pair_info(lo, hi, d(v["lo_public"]), d(v["hi_public"])) == v["info"]
    for me, other in {(lo, hi), (hi, lo)}:
        assert b64url_encode(member_pair_key(me, other)) == v["pair_key"]
        own, peer = (d(v["lo_public"]), d(v["hi_public"])) if me == lo else (d(v["hi_public"]), d(v["lo_public"]))
        assert b64url_encode(crypto.pair_key(private(me), peer, lo, hi, d(v["lo_public"]),
                                             d(v["hi_public"]))) == v["pair_key"]
        assert own == public(me)


@pytest.mark.parametrize("user", [1, 2])
def test_self_pair_key_matches_vector(user):
    v = next(p for p in VECTORS["pairs"] if p["lo"] == p["hi"] == user)
    assert b64url_encode(gc.self_pair_key(private(user), user)) == v["pair_key"]
    assert b64url_encode(gc.self_pair_key(private(user), user, public(user))) == v["pair_key"]


def test_self_pair_key_refuses_another_public_key():
    with pytest.raises(CryptoError):
        gc.self_pair_key(private(1), 1, public(2))
    with pytest.raises(CryptoError):
        gc.group_pair_key(private(1), 1, 1, public(2))


def test_pair_key_with_equal_ids_needs_one_key_on_both_sides():
    with pytest.raises(ValueError):
        crypto.pair_key(private(1), public(2), 1, 1, public(1), public(2))


@pytest.mark.parametrize("v", VECTORS["safety"], ids=lambda v: f"{v['lo']}-{v['hi']}")
def test_co_member_safety_number_matches_vector(v):
    assert crypto.safety_number(v["lo"], d(v["lo_public"]), v["hi"], d(v["hi_public"])) == v["safety"]
    assert d(v["lo_public"]) == public(v["lo"]) and d(v["hi_public"]) == public(v["hi"])


# --- Vectors: messages ------------------------------------------------------------------------
@pytest.mark.parametrize("m", VECTORS["messages"], ids=lambda m: m["name"])
def test_message_parts_match_vector(m):
    env = m["envelope"]
    assert crypto.pad(utf8(m["plain_json"])) == d(m["padded"])
    assert gc.group_message_aad(m["g"], m["from"], env["cid"], env["sk"]) == utf8(m["aad"])
    assert gc.ciphertext_hash(d(env["ct"])) == m["ct_sha256"]
    assert crypto._open(d(m["K"]), d(env["n"]), d(env["ct"]), utf8(m["aad"])) == d(m["padded"])
    assert env["sk"] == KEYS[m["from"]]["key_id"]


@pytest.mark.parametrize("m", VECTORS["messages"], ids=lambda m: m["name"])
def test_every_wrap_matches_vector(m):
    env = m["envelope"]
    assert [w["to"] for w in m["wraps"]] == [e["to"] for e in env["keys"]]
    for w, entry in zip(m["wraps"], env["keys"]):
        assert (w["lo"], w["hi"]) == tuple(sorted((m["from"], w["to"])))
        assert w["rk"] == KEYS[w["to"]]["key_id"] == entry["rk"]
        assert b64url_encode(member_pair_key(m["from"], w["to"])) == w["pair_key"]
        assert b64url_encode(member_pair_key(w["to"], m["from"])) == w["pair_key"]
        aad = gc.group_wrap_aad(m["g"], m["from"], w["to"], env["cid"], env["sk"], w["rk"], m["ct_sha256"])
        assert aad == utf8(w["aad"])
        assert b64url_encode(crypto._seal(d(w["pair_key"]), d(w["n"]), d(m["K"]), aad)) == w["w"]
        assert {"to": w["to"], "rk": w["rk"], "n": w["n"], "w": w["w"]} == entry
        assert len(d(w["w"])) == 48


@pytest.mark.parametrize("m", VECTORS["messages"], ids=lambda m: m["name"])
def test_seal_reproduces_vector_envelope(m):
    env = m["envelope"]
    sender = m["from"]
    recipients = [gc.Recipient(w["to"], w["rk"], member_pair_key(sender, w["to"])) for w in m["wraps"]]
    out = gc.seal_group_message(
        m["g"], sender, env["sk"], recipients, json.loads(m["plain_json"]), cid=env["cid"],
        message_key=d(m["K"]), nonce=d(env["n"]), wrap_nonces={w["to"]: d(w["n"]) for w in m["wraps"]})
    assert out == env
    assert list(out) == list(env)
    assert [list(e) for e in out["keys"]] == [list(e) for e in env["keys"]]


@pytest.mark.parametrize("m, o", [(m, o) for m in VECTORS["messages"] for o in m["opened"]],
                         ids=lambda x: x.get("name") or str(x.get("user")))
def test_each_member_opens_vector(m, o):
    me = o["user"]
    env = received(m, me)
    pair = member_pair_key(me, m["from"])
    assert gc.group_entry(env, me)["rk"] == KEYS[me]["key_id"]
    assert b64url_encode(gc.unwrap_message_key(pair, env, me)) == o["K"]
    assert gc.open_group_message(pair, env, me) == json.loads(o["plain_json"])
    # The sender's full envelope (every entry) opens for the same member too.
    assert gc.open_group_message(pair, {**m["envelope"], "from": m["from"]}, me) == json.loads(o["plain_json"])


def test_every_member_opens_every_message():
    assert {(m["name"], o["user"]) for m in VECTORS["messages"] for o in m["opened"]} == {
        (name, user) for name in MESSAGES for user in (1, 2, 3)}


def test_bobs_delivered_copy_opens():
    env = bob_copy()
    assert DELIVERED["user"] == 2 and [e["to"] for e in env["keys"]] == [2]
    message = MESSAGES[DELIVERED["message"]]
    assert env == {**received(message, 2), "id": env["id"], "ts": env["ts"]}
    plain = gc.open_group_message(member_pair_key(2, env["from"]), env, 2)
    assert plain == json.loads(message["plain_json"])


def test_file_message_points_to_the_file_vector():
    m = MESSAGES["file"]
    plain = gc.open_group_message(member_pair_key(3, m["from"]), received(m, 3), 3)
    f = VECTORS["file"][0]
    assert (plain["blob"], plain["key"], plain["n"], plain["sha256"]) == (f["blob"], f["key"], f["n"], f["sha256"])
    data = crypto.decrypt_file(d(f["ct"]), d(plain["key"]), d(plain["n"]), plain["sha256"])
    assert data == d(f["plain"]) and len(data) == plain["size"]


def test_group_plaintext_vector_builds_and_reads():
    m = MESSAGES["group"]
    vector = json.loads(m["plain_json"])
    built = gc.group_plaintext(vector["name"], [3, 1, 2], [1], vector["sent"])
    assert crypto._json_bytes(built) == utf8(m["plain_json"])
    assert gc.read_group_plaintext(vector) == vector
    assert len(vector["name"]) == 15  # "Maison 🏡 Dupont": the emoji is one code point (16 UTF-16 units)


# --- Vectors: must fail ------------------------------------------------------------------------
MUST_FAIL = VECTORS["must_fail"]


@pytest.mark.parametrize("v", MUST_FAIL, ids=lambda v: v["why"])
def test_must_fail_vector_does_not_open(v):
    with pytest.raises(CryptoError):
        crypto._open(d(v["key"]), d(v["n"]), d(v["ct"]), utf8(v["aad"]))


def test_must_fail_covers_every_aad_field_and_the_key():
    assert {(v["field"], v["kind"]) for v in MUST_FAIL} >= {
        ("g", "wrap"), ("g", "ct"), ("from", "wrap"), ("from", "ct"), ("to", "wrap"), ("cid", "wrap"),
        ("cid", "ct"), ("sk", "wrap"), ("sk", "ct"), ("rk", "wrap"), ("h", "wrap"), ("key", "wrap")}


# What each must_fail case changes in bob's delivered copy, and the pair key bob then uses.
CAROL_KID = KEYS[3]["key_id"]
OTHER_CID = "aGhoaGhoaGhoaGhoaGhoaA"


def _tampered(v):
    """Apply one must_fail case to bob's delivered envelope; return (envelope, pair key, reader)."""
    env, pair, me = bob_copy(), BOB_PAIR, 2
    field = v["field"]
    if field == "g":
        env["g"] = 6
    elif field == "from":
        env["from"] = 3
    elif field == "to":
        env["keys"][0]["to"] = me = 3
    elif field == "cid":
        env["cid"] = OTHER_CID
    elif field == "sk":
        env["sk"] = CAROL_KID
    elif field == "rk":
        env["keys"][0]["rk"] = CAROL_KID
    elif field == "h":
        env["ct"] = v["forged"]["ct"]
    elif field == "key":
        pair = d(v["key"])
    return env, pair, me


@pytest.mark.parametrize("v", [v for v in MUST_FAIL if v["kind"] == "wrap"], ids=lambda v: v["why"])
def test_must_fail_wrap_aad_is_what_the_changed_envelope_builds(v):
    env, _, me = _tampered(v)
    aad = gc.group_wrap_aad(env["g"], env["from"], me, env["cid"], env["sk"], env["keys"][0]["rk"],
                            gc.ciphertext_hash(d(env["ct"])))
    assert aad == utf8(v["aad"])
    assert (v["n"], v["ct"]) == (env["keys"][0]["n"], env["keys"][0]["w"])


@pytest.mark.parametrize("v", [v for v in MUST_FAIL if v["kind"] == "ct"], ids=lambda v: v["why"])
def test_must_fail_ct_aad_is_what_the_changed_envelope_builds(v):
    env, _, _ = _tampered(v)
    assert gc.group_message_aad(env["g"], env["from"], env["cid"], env["sk"]) == utf8(v["aad"])
    assert (d(v["key"]), v["n"], v["ct"]) == (d(TEXT["K"]), env["n"], env["ct"])


@pytest.mark.parametrize("v", MUST_FAIL, ids=lambda v: v["why"])
def test_must_fail_case_fails_through_open_group_message(v):
    env, pair, me = _tampered(v)
    with pytest.raises(CryptoError):
        gc.open_group_message(pair, env, me)


def test_forged_ct_opens_with_k_but_no_wrap_accepts_it():
    v = next(v for v in MUST_FAIL if v["field"] == "h")
    forged = v["forged"]
    assert forged["opens_with_K"] is True
    assert gc.ciphertext_hash(d(forged["ct"])) == forged["ct_sha256"] != TEXT["ct_sha256"]
    env = {**bob_copy(), "ct": forged["ct"]}
    # A member who knows K can make this ct, and it opens under K alone ...
    assert gc.open_group_content(d(TEXT["K"]), env) == json.loads(forged["plain_json"])
    # ... but the sender's wrap names the real ct's hash, so bob refuses it.
    with pytest.raises(CryptoError):
        gc.unwrap_message_key(BOB_PAIR, env, 2)


# --- Round trips ---------------------------------------------------------------------------------
def _people(n):
    """n users with fresh identities: {id: (private, public, key_id)}."""
    people = {}
    for uid in range(10, 10 + n):
        priv, pub = crypto.generate_identity()
        people[uid] = (priv, pub, crypto.key_id(pub))
    return people


def _recipients(people, sender):
    priv = people[sender][0]
    return [gc.Recipient(uid, kid, gc.group_pair_key(priv, sender, uid, pub))
            for uid, (_, pub, kid) in people.items()]


def _deliver(env, sender, me):
    entry = next(e for e in env["keys"] if e["to"] == me)
    return {**env, "from": sender, "id": 1, "ts": 1, "keys": [entry]}


@pytest.mark.parametrize("size", [0, 1, 31, 1000])
def test_group_round_trip_every_member_opens(size):
    people = _people(4)
    sender = 11
    plain = {"t": "text", "body": "x" * size + "é🔐", "sent": 1}
    env = gc.seal_group_message(7, sender, people[sender][2], _recipients(people, sender), plain)
    assert [e["to"] for e in env["keys"]] == list(people)
    assert len(b64url_decode(env["cid"])) == 16 and len(b64url_decode(env["n"])) == 12
    assert (len(b64url_decode(env["ct"])) - 16) % 32 == 0
    for me, (priv, _, _) in people.items():
        pair = gc.group_pair_key(priv, me, sender, people[sender][1])
        assert gc.open_group_message(pair, _deliver(env, sender, me), me) == plain


def test_sender_alone_reads_its_own_message_with_its_key_only():
    people = _people(1)
    (me, (priv, pub, kid)), = people.items()
    plain = gc.group_plaintext("", [me], [me], 5)
    env = gc.seal_group_message(3, me, kid, _recipients(people, me), plain)
    other_device = gc.group_pair_key(priv, me, me, pub)  # derived again, as another device would
    assert gc.open_group_message(other_device, _deliver(env, me, me), me) == plain


def test_each_seal_draws_fresh_key_nonces_and_cid():
    people = _people(3)
    recipients = _recipients(people, 10)
    plain = {"t": "text", "body": "same", "sent": 1}
    a = gc.seal_group_message(7, 10, people[10][2], recipients, plain)
    b = gc.seal_group_message(7, 10, people[10][2], recipients, plain)
    assert a["cid"] != b["cid"] and a["n"] != b["n"] and a["ct"] != b["ct"]
    nonces = [e["n"] for e in a["keys"] + b["keys"]] + [a["n"], b["n"]]
    assert len(set(nonces)) == len(nonces)
    keys = {b64url_encode(gc.unwrap_message_key(recipients[0].pair_key, {**x, "from": 10}, 10)) for x in (a, b)}
    assert len(keys) == 2


def test_reseal_after_stale_members_keeps_the_cid():
    people = _people(2)
    cid = crypto.new_cid()
    plain = {"t": "text", "body": "again", "sent": 1}
    a = gc.seal_group_message(7, 10, people[10][2], _recipients(people, 10), plain, cid=cid)
    b = gc.seal_group_message(7, 10, people[10][2], _recipients(people, 10), plain, cid=cid)
    assert a["cid"] == b["cid"] == cid and a["ct"] != b["ct"]


# --- Sealing refuses what the server would refuse ---------------------------------------------------
def _vector_recipients():
    return [gc.Recipient(w["to"], w["rk"], d(w["pair_key"])) for w in TEXT["wraps"]]


@pytest.mark.parametrize("recipients, error", [
    (lambda r: r[1:], ValueError),  # no self wrap
    (lambda r: [gc.Recipient(1, KEYS[2]["key_id"], r[0].pair_key)] + r[1:], ValueError),  # rk != sk
    (lambda r: r + [r[1]], ValueError),  # bob twice
    (lambda r: [], ValueError),
    (lambda r: r[:1] + [gc.Recipient(2, "bad|kid", r[1].pair_key)], ValueError),
    (lambda r: r[:1] + [gc.Recipient("2", KEYS[2]["key_id"], r[1].pair_key)], ValueError),
    (lambda r: r[:1] + [gc.Recipient(2, KEYS[2]["key_id"], b"short")], ValueError),
    (lambda r: r[:1] + [(2, KEYS[2]["key_id"], r[1].pair_key)], TypeError),
], ids=["no-self", "self-rk", "repeat", "empty", "bad-rk", "string-id", "short-key", "tuple"])
def test_seal_refuses_bad_recipients(recipients, error):
    with pytest.raises(error):
        gc.seal_group_message(5, 1, KEYS[1]["key_id"], recipients(_vector_recipients()),
                              {"t": "text", "body": "x", "sent": 1})


def test_seal_refuses_a_non_object_plaintext_and_a_short_key():
    with pytest.raises(TypeError):
        gc.seal_group_message(5, 1, KEYS[1]["key_id"], _vector_recipients(), "hello")
    with pytest.raises(ValueError):
        gc.seal_group_message(5, 1, KEYS[1]["key_id"], _vector_recipients(), {"t": "text"},
                              message_key=bytes(31))


def test_recipient_repr_hides_the_pair_key():
    r = _vector_recipients()[1]
    assert TEXT["wraps"][1]["pair_key"] not in repr(r) and repr(r.pair_key) not in repr(r)


# --- Tamper cases ------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, field, index", [
    ("env", "ct", 0), ("env", "ct", 40), ("env", "ct", -1), ("env", "n", 0), ("env", "n", 11),
    ("entry", "n", 0), ("entry", "n", 11), ("entry", "w", 0), ("entry", "w", 31), ("entry", "w", -1),
])
def test_flipped_bit_fails(where, field, index):
    env = bob_copy()
    target = env if where == "env" else env["keys"][0]
    target[field] = flip_b64(target[field], index)
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, env, 2)


@pytest.mark.parametrize("change", [
    {"v": 2}, {"g": "5"}, {"g": True}, {"from": "1"}, {"cid": "a|b"}, {"sk": 5}, {"n": "AAAA"},
    {"ct": "not base64!"}, {"keys": []}, {"keys": "x"}, {"keys": [None]},
], ids=repr)
def test_malformed_envelope_fails(change):
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, {**bob_copy(), **change}, 2)


@pytest.mark.parametrize("missing", ["v", "g", "from", "cid", "sk", "n", "ct", "keys"])
def test_envelope_missing_field_fails(missing):
    env = bob_copy()
    del env[missing]
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, env, 2)


@pytest.mark.parametrize("missing", ["to", "rk", "n", "w"])
def test_entry_missing_field_fails(missing):
    env = bob_copy()
    del env["keys"][0][missing]
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, env, 2)


def test_entry_for_someone_else_or_twice_fails():
    env = bob_copy()
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, env, 3)
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, {**env, "keys": env["keys"] * 2}, 2)
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, {**env, "keys": [{**env["keys"][0], "to": True}]}, 1)


def test_wrap_of_a_short_key_fails():
    """A wrap must hold exactly 32 bytes of K (§9.4); a 47-byte `w` is refused."""
    env = bob_copy()
    entry = env["keys"][0]
    aad = gc.group_wrap_aad(5, 1, 2, env["cid"], env["sk"], entry["rk"], gc.ciphertext_hash(d(env["ct"])))
    short = crypto._seal(BOB_PAIR, d(entry["n"]), d(TEXT["K"])[:31], aad)
    env["keys"][0] = {**entry, "w": b64url_encode(short)}
    with pytest.raises(CryptoError):
        gc.open_group_message(BOB_PAIR, env, 2)


def test_wrong_pair_key_fails():
    with pytest.raises(CryptoError):
        gc.open_group_message(flip(BOB_PAIR), bob_copy(), 2)
    with pytest.raises(CryptoError):
        gc.open_group_message(member_pair_key(3, 1), bob_copy(), 2)


def test_bad_padding_or_non_object_inside_fails():
    env = bob_copy()
    aad = gc.group_message_aad(5, 1, env["cid"], env["sk"])
    for inner in (b"{}" + bytes(30), crypto.pad(b"[1,2]")):
        ct = crypto._seal(d(TEXT["K"]), d(env["n"]), inner, aad)
        with pytest.raises(CryptoError):
            gc.open_group_content(d(TEXT["K"]), {**env, "ct": b64url_encode(ct)})


# --- §9.3 Group plaintexts ------------------------------------------------------------------------------
EMOJI = "🏡"  # one code point, two UTF-16 units, four UTF-8 bytes


def test_name_counts_code_points_not_utf16_units():
    assert len(EMOJI.encode("utf-16-le")) // 2 == 2
    plain = gc.group_plaintext(EMOJI * 100, [1], [1], 1)
    assert plain["name"] == EMOJI * 100
    with pytest.raises(ValueError):
        gc.group_plaintext(EMOJI * 101, [1], [1], 1)
    with pytest.raises(ValueError):
        gc.group_plaintext("a" * 101, [1], [1], 1)


def test_unnamed_group_is_allowed():
    assert gc.group_plaintext("", [2, 1], [2], 9) == {
        "t": "group", "name": "", "members": [1, 2], "admins": [2], "sent": 9}


def test_received_long_name_is_cut_to_100_code_points():
    plain = {"t": "group", "name": EMOJI * 150 + "x", "members": [1], "admins": [1], "sent": 1}
    assert gc.read_group_plaintext(plain)["name"] == EMOJI * 100
    assert gc.shown_group_name("ab" + EMOJI * 99 + "c") == "ab" + EMOJI * 98


def test_read_drops_unknown_fields():
    plain = {"t": "group", "name": "n", "members": [1, 2], "admins": [1], "sent": 1, "avatar": "x"}
    assert "avatar" not in gc.read_group_plaintext(plain)


@pytest.mark.parametrize("change", [
    {"t": "text"}, {"name": None}, {"name": 5}, {"members": [2, 1]}, {"members": [1, 1, 2]},
    {"members": [1, True]}, {"members": ["1", "2"]}, {"members": [1, -2]}, {"members": "12"},
    {"admins": [3]}, {"admins": None}, {"admins": [1, 1]}, {"sent": "1"}, {"sent": None},
    {"sent": 1.5}, {"sent": True},
], ids=repr)
def test_read_refuses_malformed_group_plaintext(change):
    plain = {"t": "group", "name": "n", "members": [1, 2], "admins": [1], "sent": 1, **change}
    with pytest.raises(ValueError):
        gc.read_group_plaintext(plain)


def test_read_refuses_a_non_object():
    with pytest.raises(ValueError):
        gc.read_group_plaintext(["group"])


@pytest.mark.parametrize("args, error", [
    ((None, [1], [1], 1), TypeError), (("n", [1], [2], 1), ValueError), (("n", [1, "2"], [1], 1), ValueError),
    (("n", 1, [1], 1), TypeError), (("n", [1], [1], -1), ValueError), (("n", [True], [1], 1), ValueError),
    (("\ud800", [1], [1], 1), ValueError),
], ids=["name-none", "admin-not-member", "string-id", "not-a-list", "negative-time", "bool-id",
        "lone-surrogate"])
def test_build_refuses_bad_input(args, error):
    with pytest.raises(error):
        gc.group_plaintext(*args)
