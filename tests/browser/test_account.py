"""The account in the user's hands (issue 11), in a real browser against the real server:
change password, My devices, export my history, delete my account.

Accounts are made with the Python client (fast); Alice uses real browsers, each device a
fresh profile, so signing a device out is seen where it happens: on that device's tab.
"""
import json
import re

import pytest
from playwright.sync_api import expect

from sendapp.client import ApiFailure
from support.live_clients import PASSWORD, befriend, login, register
from support.python_beside_browser import send_from_python

pytestmark = pytest.mark.timeout(240)
NEW_PASSWORD = "account test password 2"
SIGNED_OUT_MS = 5000  # this process: at once; the promise for others is a second or two


@pytest.fixture
def alice_and_bob(server, devices):
    """Alice (two browsers: laptop and phone) and Bob (Python client) are friends; Bob wrote."""
    alice, bob = register(server, "alice"), register(server, "bob")
    befriend(alice, bob)
    alice.api.logout()  # her devices are the two browsers below
    secret = f"an old secret for {alice.username}"
    send_from_python(server, bob.username, PASSWORD, alice.id, secret)
    laptop = devices(f"{alice.username}-laptop")
    laptop.login.log_in(alice.username, PASSWORD)
    phone = devices(f"{alice.username}-phone", form="phone")
    phone.login.log_in(alice.username, PASSWORD)
    return laptop, phone, alice, bob, secret


def test_change_password_signs_out_the_other_device_and_history_stays_readable(alice_and_bob):
    laptop, phone, alice, bob, secret = alice_and_bob
    account = laptop.chat.account.open()
    account.change_password("not my password", NEW_PASSWORD)
    expect(account.password_error).to_contain_text("Wrong password")
    phone.chat.wait_connected()  # a wrong password changes nothing
    account.change_password(PASSWORD, NEW_PASSWORD)
    expect(account.password_status).to_contain_text("Password changed", timeout=15_000)
    # The phone's socket is cut at once, and its tab says so.
    expect(phone.chat.signed_out).to_be_visible(timeout=SIGNED_OUT_MS)
    expect(account.devices).to_have_count(1)
    account.close()
    laptop.chat.wait_connected()  # this device stays signed in
    # Log in again with the new password: the old history decrypts (same identity keys).
    laptop.chat.log_out()
    laptop.login.open()
    laptop.login.submit(alice.username, PASSWORD)
    expect(laptop.login.error).to_be_visible()
    laptop.login.log_in(alice.username, NEW_PASSWORD)
    laptop.chat.open_conversation(bob.username)
    laptop.chat.wait_for_message(secret)
    expect(laptop.chat.undecryptable()).to_have_count(0)


def test_devices_list_both_sessions_and_signing_one_out_cuts_it(alice_and_bob):
    laptop, phone, _alice, _bob, _secret = alice_and_bob
    account = laptop.chat.account.open()
    expect(account.devices).to_have_count(2)
    expect(account.current_device()).to_have_count(1)
    expect(account.current_device().get_by_test_id("device-current")).to_have_text("This device")
    assert all(name == "Chrome on Linux" for name in account.device_names()), account.device_names()
    account.other_devices().get_by_test_id("device-end").click()
    expect(phone.chat.signed_out).to_be_visible(timeout=SIGNED_OUT_MS)
    expect(account.devices).to_have_count(1)
    expect(account.other_devices()).to_have_count(0)
    phone.page.wait_for_url(re.compile(r"/login\?reason=signed_out$"), timeout=10_000)
    laptop.chat.wait_connected()


def test_sign_out_everywhere_else(alice_and_bob):
    laptop, phone, _alice, _bob, _secret = alice_and_bob
    account = laptop.chat.account.open()
    expect(account.devices).to_have_count(2)
    account.sign_out_everywhere_else()
    expect(phone.chat.signed_out).to_be_visible(timeout=SIGNED_OUT_MS)
    expect(account.devices).to_have_count(1)
    expect(account.root.get_by_test_id("devices-status")).to_contain_text("1 other device was signed out")


def test_export_saves_decrypted_pair_and_group_history_as_json_and_text(alice_and_bob):
    laptop, _phone, alice, bob, secret = alice_and_bob
    chat = laptop.chat
    chat.open_conversation(bob.username)
    chat.wait_for_message(secret)
    mine = f"my answer to {bob.username} ✓"
    chat.send_text(mine)
    chat.create_group("Export club", [bob.username])
    in_group = "said in the group"
    chat.send_text(in_group)
    account = chat.account.open()
    name, text = account.export("text")
    assert name.endswith(".txt") and alice.username in name
    assert f"== Conversation with {bob.username} ==" in text
    assert f"{bob.username}: {secret}" in text and f"{alice.username}: {mine}" in text
    assert "== Group: Export club ==" in text and f"{alice.username}: {in_group}" in text
    name, raw = account.export("json")
    assert name.endswith(".json")
    data = json.loads(raw)
    assert data["format"] == "sendapp-history" and data["user"]["username"] == alice.username
    kinds = {conv["kind"]: conv for conv in data["conversations"]}
    assert [m["body"] for m in kinds["pair"]["messages"] if m["type"] == "text"] == [secret, mine]
    assert kinds["group"]["title"] == "Export club"
    assert in_group in [m.get("body") for m in kinds["group"]["messages"]]
    assert not any(m["type"] == "error" for conv in data["conversations"] for m in conv["messages"])
    expect(account.root.get_by_test_id("export-status")).to_contain_text("Saved")


def test_delete_account_cuts_every_device_clears_this_one_and_returns_to_login(server, alice_and_bob):
    laptop, phone, alice, bob, _secret = alice_and_bob
    account = laptop.chat.account.open()
    account.delete_account("not my password")
    expect(account.delete_error).to_contain_text("Wrong password")
    laptop.chat.wait_connected()
    account.delete_account(PASSWORD)
    laptop.page.wait_for_url(re.compile(r"/login\?reason=deleted$"), timeout=15_000)
    expect(laptop.login.notice).to_contain_text("Your account was deleted")
    expect(phone.chat.signed_out).to_be_visible(timeout=SIGNED_OUT_MS)
    stored = laptop.stored()
    assert stored is not None
    assert (stored["identities"], stored["envelopes"], stored["peerKeys"], stored["outbox"]) == (0, 0, 0, 0), stored
    assert stored["meta"] == 0, stored
    # Bob no longer has her as a friend; her password logs nobody in.
    assert bob.api.friends()["friends"] == []
    with pytest.raises(ApiFailure):
        login(server, alice.username)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_account_dialog_has_labelled_controls_and_aa_contrast(server, devices, scheme):
    from browser.a11y import audit

    alice = register(server, "alice")
    alice.api.logout()
    device = devices(f"{alice.username}-{scheme}", "phone", color_scheme=scheme)
    device.login.log_in(alice.username, PASSWORD)
    account = device.chat.account.open()
    expect(account.devices).to_have_count(1)
    assert audit(device.page) == [], "account dialog"
    account.change_password(PASSWORD, "short")
    expect(account.password_error).to_be_visible()
    assert audit(device.page) == [], "account dialog with an error"
    device.chat.press("Escape")
    expect(account.root).to_be_hidden()
