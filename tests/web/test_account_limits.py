"""Per-account rate limits key on the name login looks up, and PUT /api/me/vault is limited."""
import pytest

from support.people import Person, https_client, login_body


def fresh(app, address):
    """An anonymous client speaking from its own IP address (so per-IP limits stay apart)."""
    person = Person(username="", client=https_client(app))
    person.client.environ_base["REMOTE_ADDR"] = address
    person.refresh_csrf()
    return person


@pytest.mark.parametrize("spelling", ["ａｌｉｃｅ", "ALICE", " Alice "])
def test_login_limit_is_per_canonical_account_name(make_app, spelling):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_AUTH="3/minute")
    codes = [fresh(app, f"10.0.0.{i}").post("/api/login", json=login_body("alice")).status_code
             for i in range(3)]
    assert codes == [401, 401, 401]
    other_spelling = fresh(app, "10.0.1.1").post(
        "/api/login", json={**login_body("alice"), "username": spelling})
    assert other_spelling.status_code == 429
    assert other_spelling.get_json()["error"] == "rate_limited"
    assert fresh(app, "10.0.1.2").post("/api/login", json=login_body("bob")).status_code == 401


def test_prelogin_limit_is_per_canonical_account_name(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PRELOGIN="2/minute")
    codes = [fresh(app, f"10.0.0.{i}").get(f"/api/prelogin?username={name}").status_code
             for i, name in enumerate(["alice", "Alice", "ａｌｉｃｅ"])]
    assert codes == [200, 200, 429]


def test_vault_update_is_rate_limited_per_account(make_app):
    from support.people import register

    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_VAULT="2/minute")
    alice = register(https_client(app), "alice")
    wrong = {"auth": "not-the-password", "vault": {"v": 1, "n": "A" * 16, "ct": "AAAA"}}
    codes = [alice.put("/api/me/vault", json=wrong).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    second_device = fresh(app, "10.9.9.9")
    response = second_device.post("/api/login", json=login_body("alice"))
    assert response.status_code == 200
    second_device.csrf = response.get_json()["csrf_token"]
    assert second_device.put("/api/me/vault", json=wrong).status_code == 429  # same account
