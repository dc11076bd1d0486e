"""`flask users …` through app.test_cli_runner(): every command and its error paths."""
import pytest

from sendapp import crypto
from sendapp.extensions import db
from sendapp.models import LoginSession, Message, User
from support.people import https_client
from support.people import ITERATIONS, Person, login_body

PASSWORD = "a long enough password"


def run(runner, *args, stdin=None):
    return runner.invoke(args=list(args), input=stdin)


def test_create_with_prompt_twice(app, runner):
    result = run(runner, "users", "create", "Dora", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Created user dora" in result.output
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username="dora")).scalar_one()
        assert user.vault is None and user.current_key is None


def test_create_prompt_mismatch_is_refused(app, runner):
    result = run(runner, "users", "create", "dora", stdin=f"{PASSWORD}\nother one!\n")
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.execute(db.select(User)).first() is None


def test_created_user_logs_in_with_browser_derived_auth(app, runner):
    run(runner, "users", "create", "dora", "--password-stdin", stdin=PASSWORD + "\n")
    person = Person(username="dora", client=https_client(app))
    person.refresh_csrf()
    response = person.post("/api/login", json=login_body("dora", PASSWORD))
    assert response.status_code == 200
    assert response.get_json()["vault"] is None
    assert response.get_json()["user"]["key_id"] is None


def test_first_key_of_cli_user_is_set_with_vault_put(app, runner):
    run(runner, "users", "create", "dora", "--password-stdin", stdin=PASSWORD + "\n")
    person = Person(username="dora", client=https_client(app))
    person.refresh_csrf()
    person.csrf = person.post("/api/login", json=login_body("dora", PASSWORD)).get_json()["csrf_token"]
    secrets = crypto.derive_account_secrets("dora", PASSWORD, ITERATIONS)
    private, public = crypto.generate_identity()
    vault = crypto.encrypt_vault(secrets.vault_key, "dora", [crypto.vault_entry(private, public, 1)])
    from sendapp.encoding import b64url_encode
    response = person.put("/api/me/vault", json={"auth": secrets.auth, "vault": vault})
    assert response.status_code == 400 and "public_key" in response.get_json()["message"]
    response = person.put("/api/me/vault", json={"auth": secrets.auth, "vault": vault,
                                                 "public_key": b64url_encode(public)})
    assert response.status_code == 200
    assert response.get_json()["user"]["key_id"] == crypto.key_id(public)


@pytest.mark.parametrize("name", ["ab", "bad name", "x" * 40])
def test_create_bad_name(runner, name):
    result = run(runner, "users", "create", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "username must be" in result.output


def test_create_short_password(runner):
    result = run(runner, "users", "create", "dora", "--password-stdin", stdin="short\n")
    assert result.exit_code == 1
    assert "at least 8" in result.output


def test_create_taken_name(runner, make_user):
    make_user("alice")
    result = run(runner, "users", "create", "ALICE", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "taken" in result.output


def test_list_shows_table(runner, make_user):
    make_user("alice")
    run(runner, "users", "create", "dora", "--password-stdin", stdin=PASSWORD + "\n")
    result = run(runner, "users", "list")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["ID", "USERNAME", "CREATED", "(UTC)", "DISABLED", "KEYS"]
    alice = next(line for line in lines if " alice " in line)
    dora = next(line for line in lines if " dora " in line)
    assert alice.split()[-2:] == ["no", "yes"]
    assert dora.split()[-2:] == ["no", "no"]


def test_list_empty(runner):
    assert "(no users)" in run(runner, "users", "list").output


def test_disable_and_enable(app, runner, make_user):
    alice = make_user("alice")
    result = run(runner, "users", "disable", "alice")
    assert result.exit_code == 0 and "Disabled alice" in result.output
    assert alice.get("/api/me").status_code == 401
    assert "yes" in run(runner, "users", "list").output.splitlines()[1].split()[-2]
    result = run(runner, "users", "enable", "alice")
    assert result.exit_code == 0
    person = Person(username="alice", client=https_client(app))
    person.refresh_csrf()
    assert person.post("/api/login", json=login_body("alice")).status_code == 200


@pytest.mark.parametrize("command", ["disable", "enable", "reset-password", "delete"])
def test_unknown_user_is_a_clear_error(runner, command):
    extra = ["--password-stdin"] if command == "reset-password" else ["--yes"] if command == "delete" else []
    result = run(runner, "users", command, "ghost", *extra, stdin=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "no user named 'ghost'" in result.output


def test_reset_password_drops_vault_and_current_key(app, runner, make_user):
    alice = make_user("alice")
    result = run(runner, "users", "reset-password", "alice", "--password-stdin",
                 stdin="a fresh password\n")
    assert result.exit_code == 0
    assert "new key pair at their next login" in result.output
    assert alice.get("/api/me").status_code == 401  # sessions ended
    person = Person(username="alice", client=https_client(app))
    person.refresh_csrf()
    response = person.post("/api/login", json=login_body("alice", "a fresh password"))
    assert response.status_code == 200
    assert response.get_json()["vault"] is None
    assert response.get_json()["user"]["key_id"] is None
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert len(user.keys) == 1 and not user.keys[0].current  # old key kept for history


def test_delete_asks_for_confirmation(app, runner, make_user):
    make_user("alice")
    result = run(runner, "users", "delete", "alice", stdin="n\n")
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.execute(db.select(User)).first() is not None


def test_delete_removes_user_and_their_data(app, runner, make_user, make_friends, socket_client):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    result = run(runner, "users", "delete", "alice", "--yes")
    assert result.exit_code == 0 and "Deleted alice" in result.output
    with app.app_context():
        assert db.session.get(User, alice.id) is None
        assert db.session.execute(db.select(LoginSession).filter_by(user_id=alice.id)).first() is None
        assert db.session.execute(db.select(Message)).first() is None
    assert bob.get("/api/friends").get_json()["friends"] == []
