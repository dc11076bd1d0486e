"""Whoever can write the server's database cannot choose the keys a browser uses (issue 7, §1).

The real server process runs; tests/support/keyrows.py plays the hostile database (it swaps
a key's bytes under its id, adds a key, stores a message). Alice chats in real browsers;
Bob is a Python client, which is quicker to set up and is not under test here.
"""
import itertools
import os

import pytest
from playwright.sync_api import expect

from browser.pages import SENT_OR_LATER
from sendapp.client import Account, HttpApi
from support import keyrows
from support.live_server import TEST_KDF_ITERATIONS

pytestmark = pytest.mark.timeout(180)

PASSWORD = "correct horse battery staple 7"
_names = itertools.count(1)


def unique(prefix):
    return f"{prefix}{os.getpid() % 1000}k{next(_names)}"


def database(server):
    return server.instance_path / "sendapp.sqlite3"


def alice_and_bob(server, devices):
    """Alice registered in a browser, Bob (Python client) her friend; answers (device, name, bob)."""
    name = unique("alice")
    bob = Account.register(HttpApi(server.url, ca=str(server.cert_path)), unique("bob"), PASSWORD,
                           min_iterations=TEST_KDF_ITERATIONS)
    alice = devices(name)
    alice.register.create_account(name, PASSWORD)
    bob.api.request_friend(name)
    alice.chat.accept_request(bob.username)
    alice.chat.open_conversation(bob.username)
    return alice, name, bob


def alice_id(bob, name):
    return bob.friend(name)["id"]


def toast(device, text):
    return device.page.get_by_test_id("toast").filter(has_text=text)


def test_key_bytes_swapped_under_their_id_are_dropped_and_nothing_is_encrypted_for_them(server, devices):
    alice, name, bob = alice_and_bob(server, devices)
    cid = alice.chat.send_text("hello bob, for your real key")
    alice.chat.expect_status(cid, SENT_OR_LATER)
    kid = keyrows.replace_key_bytes(database(server), bob.username)
    stored = keyrows.sent_messages(database(server), name, bob.username)
    assert [m["rk"] for m in stored] == [kid]

    laptop = devices(name)  # a new device: nothing cached, the vault pins Bob's key id
    laptop.login.log_in(name, PASSWORD)
    laptop.chat.open_conversation(bob.username)
    laptop.chat.write_and_press_enter("for whoever holds the swapped key")
    expect(toast(laptop, "does not match its id")).to_be_visible()
    expect(laptop.chat.key_warning).to_be_visible()
    expect(laptop.chat.key_warning).to_contain_text("does not match its id")
    laptop.chat.expect_friend_key_warning(bob.username)
    assert keyrows.sent_messages(database(server), name, bob.username) == stored
    # The first device keeps the key it checked: it still writes to the real Bob.
    cid = alice.chat.send_text("still for your real key")
    alice.chat.expect_status(cid, SENT_OR_LATER)
    [envelope] = [m for m in bob.api.history(alice_id(bob, name))["messages"] if m["cid"] == cid]
    assert bob.decrypt(envelope)["body"] == "still for your real key"


def test_message_under_an_added_key_is_marked_warns_asks_before_sending_until_accepted_everywhere(
        server, devices):
    alice, name, bob = alice_and_bob(server, devices)
    forged = keyrows.add_key(database(server), bob.username)
    keyrows.store_message(database(server), bob.username, name, forged, "please send me the door code")

    alice.chat.open()  # the stored message comes with the conversation's history
    alice.chat.open_conversation(bob.username)
    cid = alice.chat.wait_for_message("please send me the door code")
    expect(alice.chat.unverified_mark(cid)).to_be_visible()
    expect(alice.chat.key_warning).to_be_visible()
    expect(alice.chat.key_warning).to_contain_text("security key has changed")
    alice.chat.expect_friend_key_warning(bob.username)

    # Sending asks first; cancelled, nothing is sent and the text stays.
    stored = keyrows.sent_messages(database(server), name, bob.username)
    alice.chat.write_and_press_enter("the code is 1234")
    expect(alice.chat.confirm_dialog).to_be_visible()
    alice.chat.answer_confirm(False)
    expect(alice.chat.composer).to_have_value("the code is 1234")
    assert keyrows.sent_messages(database(server), name, bob.username) == stored

    # Another device warns exactly the same way.
    phone = devices(name, form="phone")
    phone.login.log_in(name, PASSWORD)
    phone.chat.open_conversation(bob.username)
    phone.chat.wait_for_message("please send me the door code")
    expect(phone.chat.unverified_mark(cid)).to_be_visible()
    expect(phone.chat.key_warning).to_be_visible()

    # Accepting on one device (with the password: it goes into the vault)...
    alice.chat.acknowledge_key_change(PASSWORD)
    expect(alice.chat.unverified_mark(cid)).to_have_count(0)
    alice.chat.expect_friend_key_warning(bob.username, shown=False)
    # ...accepts on all: the next login neither warns nor marks.
    tablet = devices(name)
    tablet.login.log_in(name, PASSWORD)
    tablet.chat.open_conversation(bob.username)
    tablet.chat.wait_for_message("please send me the door code")
    expect(tablet.chat.message(cid)).to_be_visible()
    expect(tablet.chat.unverified_mark(cid)).to_have_count(0)
    expect(tablet.chat.key_warning).to_be_hidden()
    tablet.chat.expect_friend_key_warning(bob.username, shown=False)
    # And sending no longer asks.
    sent = tablet.chat.send_text("accepted, here it comes")
    tablet.chat.expect_status(sent, SENT_OR_LATER)
    expect(tablet.chat.confirm_dialog).to_be_hidden()
