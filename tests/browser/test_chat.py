"""Alice and Bob chat in real browsers (Debian's chromium) through the real server.

The scenarios run in file order and share one server and one pair of accounts (module
fixtures), so each builds on what the previous one left: friends, then texts, a second
device, attachments, a key change, a server crash, long-polling, and finally a look at the
server's disk. Each scenario can also run alone (`-k`): missing steps are done first.
"""
import re
import secrets

import pytest
from playwright.sync_api import expect

from browser.pages import SENT_OR_LATER

pytestmark = pytest.mark.timeout(180)

PASSWORD = "correct horse battery staple 7"
BOB_NEW_PASSWORD = "bobs brand new passphrase 42"
XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def long_text(who, length=5000):
    """A distinctive text of exactly `length` characters."""
    words = f"{who} writes a very long message, line after line, to check nothing is cut; "
    return (words * (length // len(words) + 1))[:length]


class World:
    """What the scenarios share: the server, each person's device, and every text typed."""

    def __init__(self, server, devices):
        self.server = server
        self.devices = devices
        self.passwords = {"alice": PASSWORD, "bob": PASSWORD}
        self.typed = [PASSWORD, BOB_NEW_PASSWORD]
        self.files = []
        self.friends = False
        self.alice = self._register("alice")
        self.bob = self._register("bob")

    def _register(self, name):
        device = self.devices(name)
        device.register.create_account(name, self.passwords[name])
        return device

    def remember(self, text):
        self.typed.append(text)
        return text

    def ensure_friends(self):
        if self.friends:
            return
        self.alice.chat.search_and_request("bob")
        expect(self.bob.chat.incoming_request("alice")).to_be_visible()
        self.bob.chat.accept_request("alice")
        expect(self.alice.chat.friend("bob")).to_be_visible()
        self.friends = True

    def ensure_talking(self):
        """Both are friends and have their conversation with each other open."""
        self.ensure_friends()
        for device, peer in ((self.alice, "bob"), (self.bob, "alice")):
            if not device.chat.is_open(peer):
                device.chat.open_conversation(peer)


@pytest.fixture(scope="module")
def world(server, devices):
    return World(server, devices)


def deliver(world, sender, receiver, text):
    """`sender` sends `text`; answers its cid once `receiver` shows exactly that text."""
    cid = sender.chat.send_text(world.remember(text))
    body = receiver.chat.message_body(cid)
    expect(body).to_have_count(1)
    assert body.text_content() == text
    return cid


def mark_no_reload(*devices):
    for device in devices:
        device.mark_page()


def assert_not_reloaded(*devices):
    for device in devices:
        assert device.still_marked(), f"{device.name}'s page was reloaded"


# 1 ------------------------------------------------------------------------------------

def test_friend_request_arrives_live_and_both_see_each_other_online(world):
    alice, bob = world.alice, world.bob
    assert alice.chat.me() == "alice" and bob.chat.me() == "bob"
    mark_no_reload(bob)

    alice.chat.search_and_request("bob")
    expect(bob.chat.incoming_request("alice")).to_be_visible()  # pushed live: Bob never reloads
    bob.chat.accept_request("alice")
    world.friends = True

    expect(alice.chat.friend("bob")).to_be_visible()
    expect(alice.chat.outgoing_request("bob")).to_have_count(0)
    expect(bob.chat.incoming_request("alice")).to_have_count(0)
    alice.chat.expect_online("bob")
    bob.chat.expect_online("alice")
    assert_not_reloaded(bob)


# 2 ------------------------------------------------------------------------------------

def test_texts_both_ways_show_literally_with_typing_and_read_state(world):
    world.ensure_friends()
    alice, bob = world.alice, world.bob
    alice.chat.open_conversation("bob")
    expect(alice.chat.history_status).to_have_text(re.compile(r"^No messages yet\. Say hello to bob"))

    # Bob is not looking at the conversation: Alice's message is delivered, not read.
    first = alice.chat.send_text(world.remember("Hello Bob 👋🏽 🎉 ça va? 日本語も"))
    expect(bob.chat.unread("alice")).to_have_text("1")
    alice.chat.expect_status(first, re.compile(r"^(sent|delivered)$"))
    bob.chat.open_conversation("alice")
    expect(bob.chat.message_body(first)).to_have_text("Hello Bob 👋🏽 🎉 ça va? 日本語も")
    alice.chat.expect_status(first, "read")
    expect(bob.chat.unread("alice")).to_be_hidden()

    # Typing shows on the other side while Bob types, and goes away when he sends.
    arabic = "مرحبا يا أليس، كيف حالك اليوم؟"
    bob.chat.type_text(arabic[:8])
    expect(alice.chat.typing_indicator).to_be_visible()
    expect(alice.chat.typing_indicator).to_have_text("bob is typing…")
    expect(alice.chat.peer_status).to_have_text("typing…")
    bob.chat.clear_composer()
    deliver(world, bob, alice, arabic)
    expect(alice.chat.typing_indicator).to_be_hidden()

    alice.chat.type_text("typing ")
    expect(bob.chat.typing_indicator).to_have_text("alice is typing…")
    alice.chat.clear_composer()

    cids = {}
    for sender, receiver, texts in (
        (alice, bob, ["שלום בוב, מה שלומך?", "Emoji from Alice: 🙂🚀❤️‍🔥 👨‍👩‍👧", long_text("Alice"), XSS]),
        (bob, alice, ["Emoji from Bob: 😀🐍✨ 🇫🇷", "שלום אליס — Hebrew from Bob", long_text("Bob"), XSS]),
    ):
        for text in texts:
            cids[(sender.name, text)] = deliver(world, sender, receiver, text)

    for device in (alice, bob):
        # HTML typed in a message is text: no element was made from it, no script ran.
        assert device.chat.markup_in_messages() == []
        assert device.chat.images_with_src("x") == 0
        assert device.dialogs == []
        bodies = device.chat.texts()
        assert bodies.count(XSS) == 2
        assert bodies.count(long_text("Alice")) == 1 and bodies.count(long_text("Bob")) == 1
        # Right-to-left text is laid out right to left.
        for text in (arabic, "שלום בוב, מה שלומך?"):
            assert device.chat.is_right_to_left(device.chat.wait_for_message(text)), text

    # Both are looking: each side's last message turns "read" on the sender's side.
    alice.chat.expect_status(cids[("alice", XSS)], "read")
    bob.chat.expect_status(cids[("bob", XSS)], "read")


# 3 ------------------------------------------------------------------------------------

def test_second_device_reads_history_and_gets_new_messages(world):
    world.ensure_talking()
    alice, bob = world.alice, world.bob
    if not alice.chat.texts():
        deliver(world, alice, bob, "History written before the second device logs in")
    history = alice.chat.texts()

    laptop = world.devices("alice-second-device")
    try:
        laptop.login.log_in("alice", world.passwords["alice"])
        laptop.chat.open_conversation("bob")
        for text in history[-6:]:  # the newest page, decrypted on a device that never saw it
            laptop.chat.wait_for_message(text)
        expect(laptop.chat.undecryptable()).to_have_count(0)

        cid = deliver(world, bob, alice, "Bob to both of Alice's devices")
        expect(laptop.chat.message_body(cid)).to_have_text("Bob to both of Alice's devices")

        # What Alice writes on one device shows as hers on the other.
        own = deliver(world, laptop, bob, "Alice from her second device")
        expect(alice.chat.message_body(own)).to_have_text("Alice from her second device")
        expect(alice.chat.message(own)).to_have_attribute("data-status", SENT_OR_LATER)
    finally:
        laptop.close()


# 4 ------------------------------------------------------------------------------------

def test_image_preview_and_file_download_arrive_intact(world, make_png):
    world.ensure_talking()
    alice, bob = world.alice, world.bob
    image = make_png(96, 64)
    data = secrets.token_bytes(48_000) + bytes(range(256)) * 4
    world.files += [image, data]

    image_cid = alice.chat.attach_file("sunset.png", "image/png", image)
    assert bob.chat.expect_image_ready(image_cid) == (96, 64)
    assert alice.chat.expect_image_ready(image_cid) == (96, 64)

    file_cid = alice.chat.attach_file("backup 2024.bin", "application/octet-stream", data)
    expect(bob.chat.file_attachment(file_cid)).to_contain_text("backup 2024.bin")
    alice.chat.expect_status(file_cid, SENT_OR_LATER)
    name, downloaded = bob.chat.download(file_cid)
    assert name == "backup 2024.bin"
    assert downloaded == data

    # A picture from Bob back to Alice, too.
    back = bob.chat.attach_file("reply.png", "image/png", make_png(20, 30))
    assert alice.chat.expect_image_ready(back) == (20, 30)


# 5 ------------------------------------------------------------------------------------

def safety_number(device):
    dialog = device.chat.open_safety_number()
    number = dialog.number()
    groups = dialog.shown_groups()
    complete, width, height = dialog.qr_size()
    dialog.close()
    assert len(groups) == 12 and all(len(g) == 5 and g.isdigit() for g in groups), groups
    assert number.split(" ") == groups
    assert complete and width > 0 and height > 0, "the QR code is not painted"
    return number


def test_safety_numbers_match_and_a_reset_key_warns_then_messages_flow(world, admin_cli):
    world.ensure_talking()
    alice, bob = world.alice, world.bob
    before = safety_number(alice)
    assert safety_number(bob) == before
    old_cid = deliver(world, bob, alice, "Bob writes this with his old key")

    admin_cli("users", "reset-password", "bob", "--password-stdin", stdin=BOB_NEW_PASSWORD + "\n")
    world.passwords["bob"] = BOB_NEW_PASSWORD
    assert bob.chat.reached_login(), "the reset should end Bob's sessions"
    bob.login.log_in("bob", BOB_NEW_PASSWORD)

    expect(alice.chat.key_warning).to_be_visible()
    expect(alice.chat.key_warning).to_contain_text("bob’s security key has changed")
    alice.chat.expect_friend_key_warning("bob")
    after = safety_number(alice)
    assert after != before
    bob.chat.open_conversation("alice")
    assert safety_number(bob) == after
    # Bob's device lost the old keys: his old messages say so instead of vanishing;
    # Alice still reads them.
    expect(bob.chat.undecryptable(old_cid)).to_be_visible()
    expect(alice.chat.message_body(old_cid)).to_have_text("Bob writes this with his old key")

    alice.chat.acknowledge_key_change(world.passwords["alice"])
    deliver(world, alice, bob, "I checked your new safety number, Bob")
    deliver(world, bob, alice, "Thanks Alice, new key works")
    expect(alice.chat.key_warning).to_be_hidden()


# 6 ------------------------------------------------------------------------------------

def test_messages_written_while_the_server_is_down_arrive_once_in_order(world):
    world.ensure_talking()
    alice, bob = world.alice, world.bob
    server = world.server
    mark_no_reload(alice, bob)
    texts = [world.remember(f"Written during the outage, number {n}") for n in (1, 2, 3)]

    alice.chat.type_text(texts[0][:12])
    server.kill()  # SIGKILL while Alice is typing
    alice.chat.expect_disconnected()
    alice.chat.type_text(texts[0][12:], delay_ms=5)
    alice.chat.composer.press("Enter")
    cids = [alice.chat.wait_for_message(texts[0])]
    cids += [alice.chat.type_and_send(text, delay_ms=5) for text in texts[1:]]
    for cid in cids:
        alice.chat.expect_status(cid, "sending")
    bob.chat.expect_disconnected()
    alice.page.wait_for_timeout(1000)
    assert [alice.chat.status(cid) for cid in cids] == ["sending"] * 3

    server.start()  # same port, folders and secret key
    alice.chat.wait_connected()
    bob.chat.wait_connected()
    for cid in cids:
        alice.chat.expect_status(cid, SENT_OR_LATER)
        expect(bob.chat.message_body(cid)).to_have_count(1)

    # A reply after the reconnect settles everything; still exactly once, in order.
    deliver(world, bob, alice, "All three arrived, Alice")
    shown = bob.chat.cids()
    assert [shown.count(cid) for cid in cids] == [1, 1, 1]
    assert [shown.index(cid) for cid in cids] == sorted(shown.index(cid) for cid in cids)
    assert [t for t in bob.chat.texts() if t in texts] == texts
    assert [t for t in alice.chat.texts() if t in texts] == texts
    assert_not_reloaded(alice, bob)


# 7 ------------------------------------------------------------------------------------

def test_long_polling_only_side_opens_no_websocket(world):
    world.ensure_friends()
    alice, bob = world.alice, world.bob
    bob.websockets.clear()
    bob.polling_requests.clear()
    bob.chat.open("?polling=1")
    bob.chat.open_conversation("alice")
    if not alice.chat.is_open("bob"):
        alice.chat.open_conversation("bob")
    alice.chat.expect_online("bob")

    deliver(world, alice, bob, "Over long-polling to Bob")
    deliver(world, bob, alice, "Long-polling reply from Bob")
    deliver(world, alice, bob, "And one more to Bob")

    assert bob.websockets == [], "the long-polling side opened a WebSocket"
    assert bob.polling_requests, "no Socket.IO long-polling request was seen"
    assert alice.websockets, "the other side should have upgraded to a WebSocket"


# 8 ------------------------------------------------------------------------------------

def test_disk_holds_no_plaintext_after_the_scenarios(world, make_png):
    server = world.server
    if not world.files:  # run alone: make something to look for first
        world.ensure_talking()
        deliver(world, world.alice, world.bob, "A secret written just before the disk check")
        for name, data in (("secret.png", make_png(30, 20)), ("secret.bin", secrets.token_bytes(5000))):
            world.files.append(data)
            world.alice.chat.expect_status(world.alice.chat.attach_file(name, "application/octet-stream", data), SENT_OR_LATER)
    server.stop()  # SQLite folds its WAL back into the database on a clean shutdown

    files = [p for p in server.instance_path.rglob("*") if p.is_file()]
    database = server.instance_path / "sendapp.sqlite3"
    assert database in files
    assert len([p for p in files if "blob" in str(p.relative_to(server.instance_path))]) >= len(world.files)
    contents = {p: p.read_bytes() for p in files}
    # The scan works: names are stored in the clear and are found.
    assert b"alice" in contents[database]

    needles = {f"typed text {t[:40]!r}": t.encode() for t in world.typed}
    for n, data in enumerate(world.files):
        needles[f"attachment {n} (whole)"] = data
        needles[f"attachment {n} (first 64 bytes)"] = data[:64]
        needles[f"attachment {n} (middle 64 bytes)"] = data[len(data) // 2:len(data) // 2 + 64]
    assert all(len(needle) >= 12 for needle in needles.values())
    found = [f"{what} in {path.relative_to(server.instance_path)}"
             for what, needle in needles.items() for path, blob in contents.items() if needle in blob]
    assert found == []
    assert not any(needle in server.log_text().encode() for needle in needles.values()), "plaintext in the server log"
