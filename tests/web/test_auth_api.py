"""Account API (PROTOCOL §2-3, §7) through Flask's test client."""
import pytest

from sendapp import crypto
from sendapp.encoding import b64url_encode
from support.people import https_client
from support.people import ITERATIONS, PASSWORD, Person, login_body, registration_body


def fresh(app):
    person = Person(username="", client=https_client(app))
    person.refresh_csrf()
    return person


def test_prelogin_answers_default_for_unknown_and_stored_for_known(app, make_user):
    make_user("alice")
    anon = fresh(app)
    for name in ("alice", "nobody", "x"):
        response = anon.get(f"/api/prelogin?username={name}")
        assert response.status_code == 200
        assert response.get_json() == {"kdf": "pbkdf2-sha256", "iterations": ITERATIONS}


def test_register_logs_in_and_returns_user_with_key_id(app, make_user):
    alice = make_user("alice")
    me = alice.get("/api/me").get_json()["user"]
    assert me["username"] == "alice"
    assert me["key_id"] == alice.key_id and len(me["key_id"]) == 12
    assert isinstance(me["created"], int)


def test_register_sets_secure_httponly_lax_session_cookie(app):
    person = fresh(app)
    body, _, _ = registration_body("carol")
    response = person.post("/api/register", json=body)
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-sendapp_session=")]
    assert cookie, response.headers
    assert "Secure" in cookie[-1] and "HttpOnly" in cookie[-1] and "SameSite=Lax" in cookie[-1]


def test_username_is_normalised(app):
    person = fresh(app)
    body, _, _ = registration_body("alice")
    body["username"] = "ＡＬＩＣＥ"  # fullwidth letters, NFKC → "alice"
    response = person.post("/api/register", json=body)
    assert response.status_code == 201
    assert response.get_json()["user"]["username"] == "alice"


def test_duplicate_username_is_conflict(app, make_user):
    make_user("alice")
    person = fresh(app)
    body, _, _ = registration_body("Alice")
    response = person.post("/api/register", json=body)
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"


@pytest.mark.parametrize("name", ["ab", "a" * 33, "bad name", "emoji🙂", "slash/x", "", 42, None])
def test_invalid_username_is_bad_request(app, name):
    person = fresh(app)
    body, _, _ = registration_body("valid")
    body["username"] = name
    response = person.post("/api/register", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert "username" in response.get_json()["message"]


@pytest.mark.parametrize("field,value", [
    ("iterations", 5), ("iterations", "1000"), ("auth", ""), ("auth", 7),
    ("public_key", "short"), ("public_key", None), ("vault", {"v": 1, "n": "x", "ct": "y"}),
    ("vault", "not an object"), ("vault", {"v": 2, "n": "AAECAwQFBgcICQoL", "ct": "AAAA"}),
])
def test_register_rejects_bad_fields(app, field, value):
    person = fresh(app)
    body, _, _ = registration_body("valid")
    body[field] = value
    response = person.post("/api/register", json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "bad_request"


def test_login_returns_vault_that_decrypts_to_the_private_key(app, make_user):
    alice = make_user("alice")
    person = fresh(app)
    response = person.post("/api/login", json=login_body("alice"))
    assert response.status_code == 200
    data = response.get_json()
    assert data["user"]["key_id"] == alice.key_id
    secrets = crypto.derive_account_secrets("alice", PASSWORD, ITERATIONS)
    plain = crypto.decrypt_vault(secrets.vault_key, "alice", data["vault"])
    assert plain["keys"][0]["d"] == b64url_encode(alice.private_key)
    assert data["csrf_token"]


def test_login_rotates_session_cookie(app, make_user):
    make_user("alice")
    person = fresh(app)
    before = person.client.get_cookie("__Host-sendapp_session").value
    person.post("/api/login", json=login_body("alice"))
    after = person.client.get_cookie("__Host-sendapp_session").value
    assert before != after
    old_csrf = person.csrf
    response = person.post("/api/logout")  # the pre-login token no longer matches
    assert response.status_code == 403 and old_csrf


def test_unknown_user_and_wrong_auth_get_the_same_answer(app, make_user):
    make_user("alice")
    person = fresh(app)
    wrong = person.post("/api/login", json=login_body("alice", "wrong password!"))
    unknown = person.post("/api/login", json=login_body("nobody"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"] == "unauthorized"


def test_disabled_user_cannot_log_in_and_loses_sessions(app, make_user):
    from sendapp.auth import admin

    alice = make_user("alice")
    with app.app_context():
        admin.set_disabled("alice", True)
    assert alice.get("/api/me").status_code == 401
    person = fresh(app)
    response = person.post("/api/login", json=login_body("alice"))
    assert response.status_code == 403
    assert "disabled" in response.get_json()["message"]


def test_logout_ends_the_session(app, make_user):
    alice = make_user("alice")
    assert alice.post("/api/logout").status_code == 204
    response = alice.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_logged_out_cookie_copy_is_revoked(app, make_user):
    alice = make_user("alice")
    stolen = alice.client.get_cookie("__Host-sendapp_session").value
    alice.post("/api/logout")
    thief = https_client(app)
    thief.set_cookie("__Host-sendapp_session", stolen, domain="localhost")
    assert thief.get("/api/me").status_code == 401


def test_me_requires_login(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def password_change(alice):
    """The old and new secrets of a password change, and alice's keys sealed under the new."""
    old = crypto.derive_account_secrets("alice", PASSWORD, ITERATIONS)
    new = crypto.derive_account_secrets("alice", "a brand new password", ITERATIONS)
    vault = crypto.encrypt_vault(new.vault_key, "alice",
                                 [crypto.vault_entry(alice.private_key, alice.public_key, 1)])
    return old, new, vault


def test_password_change_reencrypts_vault_and_new_auth_works(app, make_user):
    alice = make_user("alice")
    old, new, vault = password_change(alice)
    response = alice.put("/api/me/vault", json={"auth": old.auth, "new_auth": new.auth,
                                                "vault": vault})
    assert response.status_code == 200, response.get_json()
    person = fresh(app)
    assert person.post("/api/login", json=login_body("alice")).status_code == 401
    response = person.post("/api/login", json={"username": "alice", "auth": new.auth})
    assert response.status_code == 200
    plain = crypto.decrypt_vault(new.vault_key, "alice", response.get_json()["vault"])
    assert plain["keys"][0]["id"] == alice.key_id


def test_vault_change_with_wrong_auth_is_refused(app, make_user):
    alice = make_user("alice")
    body, _, _ = registration_body("alice")
    response = alice.put("/api/me/vault", json={"auth": "d3Jvbmc", "vault": body["vault"]})
    assert response.status_code == 401


def test_new_public_key_becomes_current(app, make_user):
    alice = make_user("alice")
    body, _, public = registration_body("alice")
    response = alice.put("/api/me/vault", json={
        "auth": body["auth"], "vault": body["vault"], "public_key": body["public_key"]})
    assert response.status_code == 200
    assert response.get_json()["user"]["key_id"] == crypto.key_id(public)
    keys = alice.get(f"/api/users/{alice.id}/keys").get_json()["keys"]
    assert [k["current"] for k in keys] == [False, True]


@pytest.mark.parametrize("path,method", [
    ("/api/register", "post"), ("/api/login", "post"), ("/api/logout", "post"),
    ("/api/me/vault", "put"), ("/api/friends", "post"),
])
def test_state_changing_requests_need_csrf(app, make_user, path, method):
    alice = make_user("alice")
    response = getattr(alice.client, method)(path, json={})
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert "CSRF" in response.get_json()["message"]


def test_malformed_json_is_bad_request(app):
    person = fresh(app)
    response = person.client.post("/api/login", data="{not json", headers={
        **person.headers(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "bad_request", "message": "request body is not valid JSON"}


def test_json_array_is_bad_request(app):
    person = fresh(app)
    response = person.post("/api/login", json=[1, 2])
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["message"]


def test_oversize_body_is_too_large(app):
    person = fresh(app)
    response = person.post("/api/login", json={"username": "a" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def test_unknown_route_is_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_rate_limit_on_login_answers_429_with_retry_after(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="3/minute")
    person = fresh(app)
    codes = [person.post("/api/login", json=login_body("nobody")).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    response = person.post("/api/login", json=login_body("nobody"))
    assert response.get_json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_rate_limit_is_per_username_too(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="3/minute")
    codes = []
    for _ in range(4):  # a new client each time (same IP in tests), same username
        person = fresh(app)
        codes.append(person.post("/api/login", json=login_body("victim")).status_code)
    assert codes[-1] == 429


def test_prelogin_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PRELOGIN="2/minute")
    person = fresh(app)
    codes = [person.get("/api/prelogin?username=a").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_unexpected_error_is_json_503_without_traceback(app, make_user, monkeypatch):
    from sendapp.auth import service

    alice = make_user("alice")

    def explode(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "user_json", explode)
    response = alice.get("/api/me")
    assert response.status_code == 503
    assert response.get_json()["error"] == "retry"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_vault_rewritten_from_a_stale_copy_is_refused_with_the_stored_one(app, make_user):
    """Two devices rewrite the vault from the copy each holds (PUT with `base`): the second gets
    `conflict` and the vault now stored, and nothing of the first change is lost."""
    alice = make_user("alice")
    secrets = crypto.derive_account_secrets("alice", PASSWORD, ITERATIONS)
    entries = [crypto.vault_entry(alice.private_key, alice.public_key, 1)]
    person = fresh(app)
    original = person.post("/api/login", json=login_body("alice")).get_json()["vault"]

    def rewritten(peers):
        return crypto.encrypt_vault(secrets.vault_key, "alice", entries, extra={"peers": peers})

    phone = rewritten({"7": ["AAAAAAAAAAAA"]})
    response = alice.put("/api/me/vault", json={"auth": secrets.auth, "vault": phone, "base": original})
    assert response.status_code == 200, response.get_json()

    laptop = rewritten({"8": ["BBBBBBBBBBBB"]})  # made from the same, now stale, copy
    response = alice.put("/api/me/vault", json={"auth": secrets.auth, "vault": laptop, "base": original})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "conflict" and body["vault"] == phone
    stored = fresh(app).post("/api/login", json=login_body("alice")).get_json()["vault"]
    assert stored == phone  # the refused write changed nothing

    merged = rewritten({"7": ["AAAAAAAAAAAA"], "8": ["BBBBBBBBBBBB"]})
    response = alice.put("/api/me/vault", json={"auth": secrets.auth, "vault": merged, "base": body["vault"]})
    assert response.status_code == 200
    plain = crypto.decrypt_vault(secrets.vault_key, "alice",
                                 fresh(app).post("/api/login", json=login_body("alice")).get_json()["vault"])
    assert plain["peers"] == {"7": ["AAAAAAAAAAAA"], "8": ["BBBBBBBBBBBB"]}


def test_a_refused_password_change_keeps_the_old_password(app, make_user):
    alice = make_user("alice")
    old, new, vault = password_change(alice)
    stale = crypto.encrypt_vault(old.vault_key, "alice", [])
    response = alice.put("/api/me/vault", json={"auth": old.auth, "new_auth": new.auth, "vault": vault,
                                                "base": stale})
    assert response.status_code == 409
    assert fresh(app).post("/api/login", json=login_body("alice")).status_code == 200
    assert alice.get("/api/me").status_code == 200  # this session was not ended either
