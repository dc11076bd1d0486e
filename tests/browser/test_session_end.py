"""A session that ends reaches the open tab at once, and nothing secret outlives it.

Each test makes fresh accounts with the Python client (fast), logs Alice in in a real
browser, and ends her session the way it happens for real: `flask users …` run as its own
process against the server's database, a password change from another device, a logout.
"""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sendapp import crypto
from sendapp.client import Account, HttpApi
from support.live_server import ROOT, TEST_KDF_ITERATIONS
from support.python_beside_browser import as_python_client, send_from_python

pytestmark = pytest.mark.timeout(180)
PASSWORD = "session end password 1"
NEW_PASSWORD = "session end password 2"
SIGNED_OUT_MS = 1000  # the promise: the tab shows it was signed out within a second
KDF = TEST_KDF_ITERATIONS
_names = iter(range(1, 10_000))


def api(server):
    return HttpApi(server.url, ca=str(server.cert_path))


def new_account(server, prefix):
    return Account.register(api(server), f"{prefix}{next(_names)}", PASSWORD, min_iterations=KDF)


def friends(a, b):
    a.api.request_friend(b.username)
    b.api.accept_friend(a.id)


def flask_cli(server, *args, stdin=None):
    """`flask --app app …` as its own process against the server's database."""
    done = subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "app", *args],
                          cwd=ROOT, env=dict(server.env), input=stdin, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def change_password_elsewhere(server, account):
    """Alice changes her password on another device (PUT /api/me/vault with new_auth)."""
    other = Account.login(api(server), account.username, PASSWORD, min_iterations=KDF)
    old = crypto.derive_account_secrets(account.username, PASSWORD, KDF)
    new = crypto.derive_account_secrets(account.username, NEW_PASSWORD, KDF)
    entries = [crypto.vault_entry(p.private, p.public, p.created) for p in other.key_pairs.values()]
    other.api.put_vault(old.auth, crypto.encrypt_vault(new.vault_key, account.username, entries),
                        new_auth=new.auth)


ACTIONS = {
    "disable": lambda server, alice: flask_cli(server, "users", "disable", alice.username),
    "reset-password": lambda server, alice: flask_cli(
        server, "users", "reset-password", alice.username, "--password-stdin", stdin=NEW_PASSWORD + "\n"),
    "delete": lambda server, alice: flask_cli(server, "users", "delete", alice.username, "--yes"),
    "password-change": change_password_elsewhere,
}


@pytest.fixture
def talking(server, devices):
    """Alice (browser) and Bob (Python client) are friends; Alice shows a message from Bob."""
    alice, bob = new_account(server, "alice"), new_account(server, "bob")
    friends(alice, bob)
    device = devices(f"{alice.username}-laptop")
    device.login.log_in(alice.username, PASSWORD)
    device.chat.open_conversation(bob.username)
    secret = f"the secret for {alice.username}"
    send_from_python(server, bob.username, PASSWORD, alice.id, secret)
    device.chat.wait_for_message(secret)
    return device, alice, bob, secret


def assert_nothing_secret_stored(device):
    stored = device.stored()
    assert stored is not None
    assert (stored["identities"], stored["envelopes"], stored["peerKeys"]) == (0, 0, 0), stored
    assert "snapshot" not in stored["metaNames"], stored


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_ended_session_signs_the_open_tab_out_within_a_second(server, talking, action):
    device, alice, bob, secret = talking
    ACTIONS[action](server, alice)
    started = time.monotonic()
    expect(device.chat.signed_out).to_be_visible(timeout=SIGNED_OUT_MS)
    assert time.monotonic() - started <= SIGNED_OUT_MS / 1000 + 0.2
    expect(device.chat.signed_out).to_contain_text("You were signed out")
    # Nothing decrypted stays on screen, and nothing new arrives.
    assert secret not in device.page.content()
    expect(device.page.get_by_test_id("app")).to_have_count(0)
    if action in ("disable", "password-change"):  # Bob can still write to her
        send_from_python(server, bob.username, PASSWORD, alice.id, "after the end")
        time.sleep(0.5)
        assert "after the end" not in device.page.content()
    # Then the login page says why; the keys and cached ciphertext are gone.
    device.page.wait_for_url(re.compile(r"/login\?reason=signed_out$"), timeout=10_000)
    expect(device.login.notice).to_contain_text("You were signed out")
    assert_nothing_secret_stored(device)


def test_outbox_sealed_under_a_reset_key_is_never_sent(server, talking):
    """The issue's case: a message written while cut off, then an admin reset, then a login."""
    device, alice, bob, _secret = talking
    device.context.set_offline(True)
    device.chat.expect_disconnected()
    cid = device.chat.send_text("written before the reset")
    assert device.stored()["outboxStatus"] == ["sending"]
    ACTIONS["reset-password"](server, alice)
    device.context.set_offline(False)
    expect(device.chat.signed_out).to_be_visible(timeout=15_000)
    device.page.wait_for_url(re.compile(r"/login"), timeout=10_000)
    device.login.log_in(alice.username, NEW_PASSWORD)
    # Shown, marked as not sent, and never sent under the dropped key.
    device.chat.open_conversation(bob.username)
    device.chat.expect_status(cid, "failed")
    expect(device.chat.message(cid).get_by_test_id("message-failed")).to_contain_text(
        "from before a password reset")
    assert "[object" not in device.chat.message(cid).text_content()
    time.sleep(1.0)  # a connect and a flush later, still nothing reached the server
    assert cid not in [m["cid"] for m in bob.api.history(alice.id)["messages"]]
    assert device.stored()["outboxStatus"] == ["failed"]


BLANK = "<!doctype html><title>blank</title><p>no script here</p>"


def stop_at_login(device):
    """Serve a script-free page for /login, so what is stored shows what the logout did
    (the real login page forgets the keys by itself)."""
    device.page.route(re.compile(r".*/login(\?.*)?$"), lambda route: route.fulfill(
        status=200, content_type="text/html", body=BLANK))


def test_logout_with_unsent_messages_asks_first(server, talking):
    device, alice, bob, _secret = talking
    stop_at_login(device)
    device.context.set_offline(True)
    device.chat.expect_disconnected()
    device.chat.send_text("not sent yet")
    device.page.get_by_test_id("logout-button").click()
    expect(device.chat.confirm_dialog).to_be_visible()
    expect(device.chat.confirm_dialog).to_contain_text("1 unsent message")
    device.chat.answer_confirm(False)
    assert device.page.url.rstrip("/") == device.chat.base_url  # still here
    assert device.stored()["outbox"] == 1
    device.page.get_by_test_id("logout-button").click()
    expect(device.chat.confirm_dialog).to_be_visible()
    device.chat.answer_confirm(True)
    device.page.wait_for_url(re.compile(r"/login"), timeout=10_000)
    assert_nothing_secret_stored(device)
    assert device.stored()["outbox"] == 0
    device.context.set_offline(False)
    assert len(bob.api.history(alice.id)["messages"]) == 1  # only Bob's message from the setup


@pytest.mark.parametrize("status", [503, 429])
def test_logout_forgets_the_keys_even_when_the_server_refuses(server, talking, status):
    device, *_ = talking
    stop_at_login(device)
    device.page.route("**/api/logout", lambda route: route.fulfill(
        status=status, content_type="application/json",
        body='{"error": "retry", "message": "try again later"}'))
    device.page.get_by_test_id("logout-button").click()
    device.page.wait_for_url(re.compile(r"/login\?reason=logout_unconfirmed$"), timeout=10_000)
    assert_nothing_secret_stored(device)


def test_opening_the_login_page_forgets_the_keys(server, talking):
    device, *_ = talking
    assert device.stored()["identities"] >= 1
    device.login.open()
    expect(device.login.form).to_have_attribute("data-bound", "true")
    assert_nothing_secret_stored(device)


# --- the login and register forms ---------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login", "/register"])
def test_auth_forms_cannot_put_the_password_in_a_url(devices, server, path):
    device = devices(f"forms{path.replace('/', '-')}")
    blocked = []
    device.page.route("**/static/js/main.js", lambda route: (blocked.append(1), route.abort()))
    device.page.goto(server.url + path)
    form = device.page.get_by_test_id("auth-form")
    expect(form).to_be_visible()
    assert blocked, "main.js was not requested"
    assert form.evaluate("f => f.method") == "post"
    assert device.page.locator("input[type=password][name]").count() == 0
    assert device.page.locator("input[name]").count() == 0
    expect(form.locator("button[type=submit]")).to_be_disabled()  # no script: no submit
    device.page.get_by_test_id("password-input").fill("hunter2 hunter2")
    device.page.get_by_test_id("password-input").press("Enter")
    time.sleep(0.3)
    assert "hunter2" not in device.page.url
    assert device.page.url.startswith(server.url + path)


# --- the KDF floor --------------------------------------------------------------------------------
def test_browser_refuses_a_server_announcing_fewer_kdf_iterations(devices, server):
    """The test server announces 1000 iterations: without the test-only knob, nothing is derived."""
    device = devices("real-kdf-floor", kdf_floor=None)
    posted = []
    device.page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    device.register.open()
    device.register.submit(f"floor{next(_names)}", "a long enough password")
    expect(device.register.error).to_contain_text("at least 100000")
    assert not [url for url in posted if "/api/" in url], posted


def test_browser_refuses_a_prelogin_answer_of_one_iteration(devices, server):
    account = new_account(server, "cheap")
    device = devices("forged-prelogin")
    device.page.route("**/api/prelogin?*", lambda route: route.fulfill(
        status=200, content_type="application/json", body='{"kdf": "pbkdf2-sha256", "iterations": 1}'))
    device.login.open()
    device.login.submit(account.username, PASSWORD)
    expect(device.login.error).to_contain_text("only 1 key-derivation rounds")
    assert device.page.url.endswith("/login")


# --- attachments --------------------------------------------------------------------------------
BIDI_NAME = "invoice\u202etxt.exe\u2066\u200f"


def test_file_names_are_shown_and_saved_without_bidi_controls(server, talking):
    device, alice, bob, _secret = talking

    async def send_file(account, live):
        ack = await live.send_file(alice.id, b"not really an exe", name=BIDI_NAME,
                                   mime="application/octet-stream", timeout=20)
        return ack["id"]

    message_id = as_python_client(server, bob.username, PASSWORD, send_file)
    item = device.page.locator(f'[data-testid="message"][data-id="{message_id}"]')
    expect(item).to_have_count(1)
    cid = item.get_attribute("data-cid")
    attachment = device.chat.file_attachment(cid)
    expect(attachment).to_contain_text("invoicetxt.exe")
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]", attachment.text_content())
    name, data = device.chat.download(cid)
    assert name == "invoicetxt.exe" and data == b"not really an exe"


# Records every URL the page revokes (fetching a blob: URL is refused by the CSP anyway).
REVOKE_SPY = """
window.__sendappRevoked = [];
const revoke = URL.revokeObjectURL.bind(URL);
URL.revokeObjectURL = (url) => { window.__sendappRevoked.push(url); revoke(url); };
"""


def test_decrypted_image_urls_are_revoked_when_no_longer_shown(server, devices, make_png):
    alice, bob = new_account(server, "alice"), new_account(server, "bob")
    friends(alice, bob)
    sender = devices(f"{bob.username}-laptop")
    sender.login.log_in(bob.username, PASSWORD)
    sender.chat.open_conversation(alice.username)
    viewer = devices(f"{alice.username}-phone", "phone")
    viewer.context.add_init_script(REVOKE_SPY)
    viewer.login.log_in(alice.username, PASSWORD)
    viewer.chat.open_conversation(bob.username)
    cid = sender.chat.attach_file("photo.png", "image/png", make_png(40, 30))
    assert viewer.chat.expect_image_ready(cid) == (40, 30)
    url = viewer.chat.image(cid).locator("img").get_attribute("src")
    assert url.startswith("blob:")
    revoked = "url => window.__sendappRevoked.includes(url)"
    assert viewer.page.evaluate(revoked, url) is False
    viewer.chat.back_to_list()
    viewer.page.wait_for_function(revoked, arg=url, timeout=5000)
    # Shown again, it is decrypted again.
    viewer.chat.open_conversation(bob.username)
    assert viewer.chat.expect_image_ready(cid) == (40, 30)
