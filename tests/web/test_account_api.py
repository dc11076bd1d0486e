"""The account in the user's hands (issue 11): My devices and Delete my account, through
Flask's test client, with Socket.IO test clients for the sockets each action must cut."""
import pytest

from sendapp import crypto
from sendapp.auth.user_agent import summarise
from sendapp.extensions import db, socketio
from sendapp.models import LoginSession, Message, User
from support.messages import text_envelope
from support.people import ITERATIONS, PASSWORD, Person, https_client, login_body

FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")


def log_in_again(app, person, user_agent=CHROME_WINDOWS):
    """The same account from another device (own cookie jar, own User-Agent)."""
    client = https_client(app)
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    other = Person(username=person.username, client=client, id=person.id)
    other.refresh_csrf()
    answer = other.post("/api/login", json=login_body(person.username))
    assert answer.status_code == 200, answer.get_json()
    other.csrf = answer.get_json()["csrf_token"]
    return other


def auth_of(username, password=PASSWORD):
    return crypto.derive_account_secrets(username, password, ITERATIONS).auth


# --- the device summary --------------------------------------------------------------------

@pytest.mark.parametrize("user_agent,summary", [
    (FIREFOX_ANDROID, "Firefox on Android"),
    (CHROME_WINDOWS, "Chrome on Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
     "Chrome on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on macOS"),
    ("sendapp-python-client/1", "SendApp Python client"),
    ("curl/8.5.0", None),
    ("", None),
    (None, None),
])
def test_user_agent_becomes_a_short_summary(user_agent, summary):
    assert summarise(user_agent) == summary


def test_only_the_summary_of_the_user_agent_is_stored(app, make_user):
    alice = make_user("alice")
    log_in_again(app, alice, FIREFOX_ANDROID)
    with app.app_context():
        stored = db.session.execute(db.select(LoginSession.device)).scalars().all()
    assert "Firefox on Android" in stored
    assert not any(value and "Mozilla" in value for value in stored)


# --- GET /api/me/sessions --------------------------------------------------------------------

def test_sessions_lists_own_live_sessions_with_the_current_one_first_and_marked(app, make_user):
    alice = make_user("alice")
    phone = log_in_again(app, alice, FIREFOX_ANDROID)
    make_user("bob")  # someone else's session is never listed
    listed = phone.get("/api/me/sessions").get_json()["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed] == [True, False]
    assert listed[0]["device"] == "Firefox on Android"
    assert set(listed[0]) == {"id", "device", "created", "last_seen", "current"}
    assert all(isinstance(s["created"], int) and isinstance(s["last_seen"], int) for s in listed)
    mine = alice.get("/api/me/sessions").get_json()["sessions"]
    assert [s["id"] for s in mine] == [listed[1]["id"], listed[0]["id"]]


def test_sessions_need_login(client):
    answer = client.get("/api/me/sessions")
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorized"


# --- DELETE /api/me/sessions/<id> ------------------------------------------------------------

def test_signing_out_one_session_ends_it_and_cuts_its_socket(app, make_user):
    alice = make_user("alice")
    phone = log_in_again(app, alice, FIREFOX_ANDROID)
    phone_socket = socketio.test_client(app, flask_test_client=phone.client)
    own_socket = socketio.test_client(app, flask_test_client=alice.client)
    assert phone_socket.is_connected() and own_socket.is_connected()
    phone_id = next(s["id"] for s in alice.get("/api/me/sessions").get_json()["sessions"] if not s["current"])
    assert alice.delete(f"/api/me/sessions/{phone_id}").status_code == 204
    assert not phone_socket.is_connected()
    assert own_socket.is_connected()
    assert phone.get("/api/me").status_code == 401
    assert [s["current"] for s in alice.get("/api/me/sessions").get_json()["sessions"]] == [True]
    own_socket.disconnect()


def test_another_users_session_id_is_not_found_and_stays(app, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    bob_socket = socketio.test_client(app, flask_test_client=bob.client)
    bob_id = bob.get("/api/me/sessions").get_json()["sessions"][0]["id"]
    answer = alice.delete(f"/api/me/sessions/{bob_id}")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"
    assert isinstance(answer.get_json()["message"], str)
    assert bob.get("/api/me").status_code == 200
    assert bob_socket.is_connected()
    bob_socket.disconnect()


@pytest.mark.parametrize("path", ["/api/me/sessions/0", "/api/me/sessions/999999",
                                  "/api/me/sessions/abc", "/api/me/sessions/99999999999999999999"])
def test_unknown_or_malformed_session_id_is_not_found(app, make_user, path):
    alice = make_user("alice")
    answer = alice.delete(path)
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"


def test_signing_out_the_current_session_is_a_logout(app, make_user):
    alice = make_user("alice")
    own = alice.get("/api/me/sessions").get_json()["sessions"][0]
    assert alice.delete(f"/api/me/sessions/{own['id']}").status_code == 204
    assert alice.get("/api/me").status_code == 401


# --- POST /api/me/sessions/end-others --------------------------------------------------------

def test_sign_out_everywhere_else_keeps_only_this_session(app, make_user):
    alice = make_user("alice")
    others = [log_in_again(app, alice, FIREFOX_ANDROID), log_in_again(app, alice)]
    sockets = [socketio.test_client(app, flask_test_client=o.client) for o in others]
    own_socket = socketio.test_client(app, flask_test_client=alice.client)
    bob = make_user("bob")
    answer = alice.post("/api/me/sessions/end-others")
    assert answer.status_code == 200
    assert answer.get_json() == {"ended": 2}
    assert not any(s.is_connected() for s in sockets)
    assert own_socket.is_connected()
    assert all(o.get("/api/me").status_code == 401 for o in others)
    assert alice.get("/api/me").status_code == 200
    assert bob.get("/api/me").status_code == 200
    own_socket.disconnect()


# --- DELETE /api/me --------------------------------------------------------------------------

def test_delete_account_needs_the_password_and_removes_everything(app, make_user, make_friends):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    phone = log_in_again(app, alice, FIREFOX_ANDROID)
    phone_socket = socketio.test_client(app, flask_test_client=phone.client)
    bob_socket = socketio.test_client(app, flask_test_client=bob.client)
    bob_socket.get_received()
    answer = alice.delete("/api/me", json={"auth": auth_of("alice")})
    assert answer.status_code == 204
    assert not phone_socket.is_connected()
    assert alice.get("/api/me").status_code == 401
    assert phone.get("/api/me").status_code == 401
    with app.app_context():
        assert db.session.execute(db.select(User).filter_by(username="alice")).scalar() is None
        assert db.session.execute(db.select(LoginSession).filter_by(user_id=alice.id)).first() is None
    assert bob.get("/api/friends").get_json()["friends"] == []
    assert "friends" in [event["name"] for event in bob_socket.get_received()]
    bob_socket.disconnect()
    # The name is free again, and the old password logs nobody in.
    fresh = Person(username="", client=https_client(app))
    fresh.refresh_csrf()
    assert fresh.post("/api/login", json=login_body("alice")).status_code == 401


def test_delete_account_with_a_wrong_password_changes_nothing(app, make_user):
    alice = make_user("alice")
    answer = alice.delete("/api/me", json={"auth": auth_of("alice", "not my password")})
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorized"
    assert alice.get("/api/me").status_code == 200


@pytest.mark.parametrize("body,code", [({}, "bad_request"), ({"auth": 7}, "bad_request"),
                                       ({"auth": ""}, "bad_request"), ({"auth": "x" * 500}, "too_large")])
def test_delete_account_with_a_bad_body_is_refused(app, make_user, body, code):
    alice = make_user("alice")
    answer = alice.delete("/api/me", json=body)
    assert answer.status_code == {"bad_request": 400, "too_large": 413}[code]
    data = answer.get_json()
    assert data["error"] == code and "auth" in data["message"]
    assert alice.get("/api/me").status_code == 200


def test_delete_account_without_a_body_is_bad_request(app, make_user):
    alice = make_user("alice")
    answer = alice.delete("/api/me")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_request"


def test_delete_account_removes_its_messages_both_ways(app, make_user, make_friends, socket_client):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    for sender, recipient in ((alice, bob), (bob, alice)):
        ack = socket_client(sender).emit("send", text_envelope(sender, recipient, "hi"), callback=True)
        assert ack["ok"], ack
    assert alice.delete("/api/me", json={"auth": auth_of("alice")}).status_code == 204
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 0


# --- CSRF and login on every new route -------------------------------------------------------

NEW_ROUTES = [("delete", "/api/me"), ("delete", "/api/me/sessions/1"), ("post", "/api/me/sessions/end-others")]


@pytest.mark.parametrize("method,path", NEW_ROUTES)
def test_new_routes_need_the_csrf_token(app, make_user, method, path):
    alice = make_user("alice")
    answer = getattr(alice.client, method)(path, json={"auth": auth_of("alice")})
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "forbidden"
    assert "CSRF" in answer.get_json()["message"]
    assert alice.get("/api/me").status_code == 200
    assert len(alice.get("/api/me/sessions").get_json()["sessions"]) == 1


@pytest.mark.parametrize("method,path", NEW_ROUTES)
def test_new_routes_need_login(app, method, path):
    anon = Person(username="", client=https_client(app))
    anon.refresh_csrf()
    answer = getattr(anon, method)(path, json={"auth": "x"}) if method == "delete" else anon.post(path)
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "unauthorized"


def test_ended_by_lifetime_sessions_are_neither_listed_nor_counted(app, make_user):
    alice = make_user("alice")
    phone = log_in_again(app, alice, FIREFOX_ANDROID)
    with app.app_context():
        db.session.execute(db.update(LoginSession).where(LoginSession.device == "Firefox on Android")
                           .values(last_seen=0))  # idle far beyond SESSION_IDLE
        db.session.commit()
    assert [s["current"] for s in alice.get("/api/me/sessions").get_json()["sessions"]] == [True]
    assert alice.post("/api/me/sessions/end-others").get_json() == {"ended": 0}
    assert phone.get("/api/me").status_code == 401
