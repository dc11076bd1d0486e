"""Groups (PROTOCOL §9) in real browsers through the real server.

Alice (laptop), Bob (phone) and Carol (laptop) make a group and chat in it; Carol shares a
picture and then leaves; Dave is added and sees only what follows; a second device of Bob's
reads the whole history. Bob and Carol are not friends: they read each other through the
group alone. The scenarios run in file order and share one server (module fixtures); each
also runs alone (`-k`): missing steps are done first. The last one takes screenshots of the
group screens on a phone (390×844) and a laptop (1280×800), as test_screenshots.py does.
"""
import os
import re

import pytest
from playwright.sync_api import expect

from browser.a11y import audit
from browser.conftest import png_bytes
from support.live_server import ROOT

pytestmark = pytest.mark.timeout(240)

PASSWORD = "group chat password 5"
GROUP = "Hiking club"
DOCS_SHOTS = ROOT / "docs" / "screenshots"


class World:
    """The people, their devices, and how far the story has got."""

    def __init__(self, devices):
        self.devices = devices
        self.alice = self._register("alice", "laptop")
        self.bob = self._register("bob", "phone")
        self.carol = self._register("carol", "laptop")
        self.dave = None
        self.done = set()
        self.before_dave = []  # texts sent before Dave joined

    def _register(self, name, form):
        device = self.devices(name, form)
        device.register.create_account(name, PASSWORD)
        return device

    def befriend(self, asker, asked):
        asker.chat.search_and_request(asked.name)
        expect(asked.chat.incoming_request(asker.name)).to_be_visible()
        asked.chat.accept_request(asker.name)
        expect(asker.chat.friend(asked.name)).to_be_visible()


@pytest.fixture(scope="module")
def world(devices):
    return World(devices)


def ensure_group(world):
    if "group" in world.done:
        return
    test_three_people_create_and_name_a_group(world)


def ensure_chat(world):
    if "chat" in world.done:
        return
    test_members_chat_and_share_a_picture(world)


def ensure_dave(world):
    if "dave" in world.done:
        return
    test_a_member_leaves_and_a_new_member_sees_only_what_follows(world)


def test_three_people_create_and_name_a_group(world):
    alice, bob, carol = world.alice, world.bob, world.carol
    world.befriend(alice, bob)
    world.befriend(alice, carol)
    alice.page.get_by_test_id("new-group-button").click()
    expect(alice.page.get_by_test_id("new-group-friend")).to_have_count(2)
    assert audit(alice.page) == [], "new group dialog"
    alice.chat.press("Escape")
    expect(alice.page.get_by_test_id("new-group-dialog")).to_be_hidden()
    alice.chat.create_group(GROUP, ["bob", "carol"])
    for device in (alice, bob, carol):
        expect(device.chat.group(GROUP)).to_have_count(1)
    bob.chat.open_group(GROUP)
    bob.chat.wait_for_system_line("alice named the group “Hiking club”.")
    assert "alice created the group." in bob.chat.system_lines()
    panel = bob.chat.open_group_panel()
    assert panel.usernames() == ["alice", "bob", "carol"]
    expect(panel.member("alice")).to_have_attribute("data-role", "admin")
    for name in ("alice", "bob", "carol"):
        expect(panel.member(name)).to_have_attribute("data-unconfirmed", "false")
    expect(panel.root.get_by_test_id("group-rename-form")).to_be_hidden()  # bob is no admin
    assert audit(bob.page) == [], "group panel on a phone"
    panel.close()
    assert audit(bob.page) == [], "group conversation on a phone"
    world.done.add("group")


def test_members_chat_and_share_a_picture(world):
    ensure_group(world)
    alice, bob, carol = world.alice, world.bob, world.carol
    for device in (alice, carol):
        if not device.chat.is_open(GROUP):
            device.chat.open_group(GROUP)
    if not bob.chat.is_open(GROUP):
        bob.chat.open_group(GROUP)
    first = alice.chat.send_text("Who is in for Saturday?")
    world.before_dave.append("Who is in for Saturday?")
    for device in (bob, carol):
        expect(device.chat.message_body(first)).to_have_text("Who is in for Saturday?")
        expect(device.chat.sender_of(first)).to_have_text("alice")
    bob.chat.type_text("Me")
    expect(alice.chat.typing_indicator).to_have_text("bob is typing…")
    expect(alice.chat.group(GROUP)).to_contain_text("bob is typing…")
    bob.chat.clear_composer()
    reply = bob.chat.send_text("Me! 🥾")
    world.before_dave.append("Me! 🥾")
    expect(carol.chat.message_body(reply)).to_have_text("Me! 🥾")  # carol and bob are no friends
    expect(carol.chat.sender_of(reply)).to_have_text("bob")
    picture = carol.chat.attach_file("trail.png", "image/png", png_bytes(96, 64, lambda x, y: (60 + x, 140, 90 + y)))
    for device in (alice, bob, carol):
        size = device.chat.expect_image_ready(picture)
        assert size == (96, 64)
    # Everyone has read alice's question: her client says so, and who read up to where.
    alice.chat.expect_status(first, "read")
    expect(alice.chat.page.get_by_test_id("message-readers").filter(has_text="bob")).not_to_have_count(0)
    assert alice.chat.undecryptable().count() == 0
    world.done.add("chat")


def test_a_member_leaves_and_a_new_member_sees_only_what_follows(world):
    ensure_chat(world)
    alice, carol = world.alice, world.carol
    if not carol.chat.is_open(GROUP):
        carol.chat.open_group(GROUP)
    carol.chat.open_group_panel().leave()
    expect(carol.chat.group(GROUP)).to_have_count(0)
    if not alice.chat.is_open(GROUP):
        alice.chat.open_group(GROUP)
    alice.chat.wait_for_system_line("carol left the group.")

    world.dave = world._register("dave", "laptop")
    dave = world.dave
    world.befriend(alice, dave)
    panel = alice.chat.open_group_panel()
    assert "carol" not in panel.usernames()
    panel.add("dave")
    expect(panel.member("dave")).to_have_attribute("data-unconfirmed", "false")  # alice's group message confirms it
    panel.close()
    alice.chat.wait_for_system_line("You added dave.")
    welcome = alice.chat.send_text("Welcome Dave!")
    expect(dave.chat.group(GROUP)).to_have_count(1)
    dave.chat.open_group(GROUP)
    expect(dave.chat.message_body(welcome)).to_have_text("Welcome Dave!")
    shown = dave.chat.texts()
    assert not set(world.before_dave) & set(shown), shown
    assert dave.chat.undecryptable().count() == 0
    reply = dave.chat.send_text("Thanks! 👋")
    expect(world.bob.chat.message_body(reply)).to_have_text("Thanks! 👋")
    world.done.add("dave")


def test_a_second_device_reads_the_group_history(world):
    ensure_dave(world)
    second = world.devices("bob", "laptop")
    second.login.log_in("bob", PASSWORD)
    expect(second.chat.group(GROUP)).to_have_count(1)
    second.chat.open_group(GROUP)
    for text in world.before_dave + ["Welcome Dave!", "Thanks! 👋"]:
        second.chat.wait_for_message(text)
    expect(second.chat.page.get_by_test_id("attachment-image")).to_have_attribute("data-state", "ready")
    assert second.chat.undecryptable().count() == 0
    second.close()


def test_screenshots_of_the_group_screens(world, tmp_path):
    ensure_dave(world)
    update_docs = os.environ.get("SENDAPP_UPDATE_SCREENSHOTS") == "1"
    shots = DOCS_SHOTS if update_docs else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    alice, bob = world.alice, world.bob
    for device in (alice, bob):
        if not device.chat.is_open(GROUP):
            device.chat.open_group(GROUP)
        device.chat.dismiss_toasts()
    written = []
    for device, form in ((alice, "laptop"), (bob, "phone")):
        written.append(device.screenshot(shots / f"{form}-group.png"))
        device.chat.open_group_panel()
        written.append(device.screenshot(shots / f"{form}-group-members.png"))
        device.chat.group_panel.close()
    bob.chat.back_to_list()
    expect(bob.chat.group(GROUP)).to_be_visible()
    written.append(bob.screenshot(shots / "phone-group-list.png"))
    for device, form in ((alice, "laptop"), (bob, "phone")):
        device.page.get_by_test_id("new-group-button").click()
        dialog = device.page.get_by_test_id("new-group-dialog")
        dialog.get_by_test_id("new-group-name").fill("Book club")
        dialog.locator('[data-testid="new-group-friend"] input').first.check()
        written.append(device.screenshot(shots / f"{form}-new-group.png"))
        dialog.get_by_test_id("new-group-cancel").click()
        expect(dialog).to_be_hidden()
    for path in written:
        assert path.exists() and path.stat().st_size > 10_000, path.name


def test_an_admin_renames_promotes_and_removes(world):
    ensure_dave(world)
    alice, bob, dave = world.alice, world.bob, world.dave
    for device in (alice, bob, dave):
        if not device.chat.is_open(GROUP) and not device.chat.is_open("Summit team"):
            device.chat.open_group(GROUP)
    panel = alice.chat.open_group_panel()
    panel.rename("Summit team")
    expect(panel.title).to_have_text("Summit team")
    for device in (bob, dave):
        expect(device.chat.title).to_have_text("Summit team")
        device.chat.wait_for_system_line("alice named the group “Summit team”.")
    panel.promote("bob")
    bob_panel = bob.chat.open_group_panel()
    expect(bob_panel.root.get_by_test_id("group-rename-form")).to_be_visible()  # bob is an admin now
    bob_panel.remove("dave")
    bob_panel.close()
    expect(dave.chat.group("Summit team")).to_have_count(0)
    expect(panel.member("dave")).to_have_count(0)
    panel.close()
    alice.chat.wait_for_system_line("bob removed dave.")
    after = bob.chat.send_text("Just the two of us now")
    expect(alice.chat.message_body(after)).to_have_text("Just the two of us now")
    assert alice.chat.undecryptable().count() == 0


def test_changes_missed_while_away_show_after_a_restart(world):
    """The `group` events missed are not replayed (§9.5): the next listing is compared with the last one."""
    alice, bob = world.alice, world.bob
    if "Summit team" not in (alice.chat.title.text_content() or ""):
        test_an_admin_renames_promotes_and_removes(world)
    bob.page.goto("about:blank")
    alice.chat.open_group_panel().add("carol")
    alice.chat.group_panel.close()
    back = alice.chat.send_text("Carol is back")
    bob.chat.open()
    expect(bob.chat.group_unread("Summit team")).to_be_visible()
    bob.chat.open_group("Summit team")
    bob.chat.wait_for_system_line("carol joined the group while you were away.")
    expect(bob.chat.message_body(back)).to_have_text("Carol is back")
    expect(world.carol.chat.group("Summit team")).to_have_count(1)


def test_a_message_written_offline_is_sealed_again_for_who_joined_meanwhile(world):
    """`stale_members` against the real server (§9.5): Erin writes while offline; meanwhile
    Carol joins; back online, Erin's outbox sends first, the server refuses the old member
    list, and her client seals the same message again (same cid) for Carol too."""
    from browser.test_network_drop import Network, drop

    ensure_group(world)  # alice and carol are friends
    alice, carol = world.alice, world.carol
    erin = world.devices("erin", "laptop")
    network = Network(erin.context)  # before her page opens any socket
    erin.register.create_account("erin", PASSWORD)
    world.befriend(alice, erin)
    alice.chat.create_group("Offline test", ["erin"])
    expect(erin.chat.group("Offline test")).to_have_count(1)
    erin.chat.open_group("Offline test")
    erin.chat.wait_for_system_line("alice named the group “Offline test”.")
    drop(erin, network)
    cid = erin.chat.send_text("Written on the train")
    erin.chat.expect_status(cid, "sending")
    alice.chat.open_group_panel().add("carol")
    alice.chat.group_panel.close()
    network.restore()
    erin.chat.wait_connected()
    erin.chat.expect_status(cid, re.compile(r"^(sent|delivered|read)$"))
    carol.chat.open_group("Offline test")
    expect(carol.chat.message_body(cid)).to_have_text("Written on the train")
    expect(alice.chat.message_body(cid)).to_have_text("Written on the train")
    assert carol.chat.undecryptable().count() == 0


@pytest.mark.parametrize("form", ["phone", "laptop"])
def test_group_screens_pass_the_audit_in_the_dark_scheme(devices, form):
    """Labels and AA contrast of the group rows, header, timeline lines and panel in dark mode."""
    hana = devices(f"hana-{form}", form, color_scheme="dark")
    ivan = devices(f"ivan-{form}", form, color_scheme="dark")
    hana.register.create_account(f"hana{form}", PASSWORD)
    ivan.register.create_account(f"ivan{form}", PASSWORD)
    hana.chat.search_and_request(f"ivan{form}")
    ivan.chat.accept_request(f"hana{form}")
    hana.chat.create_group("Night shift", [f"ivan{form}"])
    ivan.chat.open_group("Night shift")
    ivan.chat.wait_for_system_line(f"hana{form} named the group “Night shift”.")
    cid = hana.chat.send_text("Readable in the dark?")
    expect(ivan.chat.sender_of(cid)).to_have_text(f"hana{form}")
    hana.chat.expect_status(cid, "read")
    expect(hana.chat.readers_of(cid)).to_have_text(f"Read by ivan{form}")
    for device in (hana, ivan):
        device.chat.dismiss_toasts()
        assert audit(device.page) == [], f"group conversation of {device.name}"
    hana.chat.open_group_panel()
    assert audit(hana.page) == [], "group panel of an admin"
    hana.chat.group_panel.close()
    if form == "phone":
        ivan.chat.back_to_list()
    assert audit(ivan.page) == [], "list with a group"


def test_the_only_admin_leaving_names_a_successor_first(world):
    """§9.3: the only admin's client first sends a `group` message naming the oldest other
    member as admin, then leaves; the members apply it, and the server promotes the same one."""
    alice, carol = world.alice, world.carol
    if not alice.chat.group("Offline test").count():
        test_a_message_written_offline_is_sealed_again_for_who_joined_meanwhile(world)
    erin = next(d for d in world.devices.opened if d.name == "erin")
    alice.chat.open_group("Offline test")
    alice.chat.open_group_panel().leave()
    expect(alice.chat.group("Offline test")).to_have_count(0)
    for device in (erin, carol):
        if not device.chat.is_open("Offline test"):
            device.chat.open_group("Offline test")
        device.chat.wait_for_system_line("alice is leaving and made erin admin.")
        device.chat.wait_for_system_line("alice left the group.")
    panel = erin.chat.open_group_panel()
    expect(panel.member("erin")).to_have_attribute("data-role", "admin")
    expect(panel.root.get_by_test_id("group-rename-form")).to_be_visible()
    for name in ("erin", "carol"):
        expect(panel.member(name)).to_have_attribute("data-unconfirmed", "false")
    panel.close()
    after = erin.chat.send_text("Still here")
    expect(carol.chat.message_body(after)).to_have_text("Still here")


def test_a_member_no_admin_confirmed_is_marked_and_sending_asks_first(world):
    """§9.6 against the real server: a member added without an admin's `group` message (here
    over the bare HTTP API, as another client or a lying server could) shows as unconfirmed,
    and the first send that would include them asks first."""
    alice, bob = world.alice, world.bob
    if not bob.chat.group("Summit team").count():
        test_changes_missed_while_away_show_after_a_restart(world)
    dave = world.dave
    group_id = bob.chat.group("Summit team").get_attribute("data-group-id")
    dave_id = alice.chat.friend("dave").get_attribute("data-friend-id")
    status = alice.page.evaluate("""async ([group, user]) => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const response = await fetch(`/api/groups/${group}/members`, {method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf}, body: JSON.stringify({user: Number(user)})});
        return response.status;
    }""", [group_id, dave_id])
    assert status == 200
    if not bob.chat.is_open("Summit team"):
        bob.chat.open_group("Summit team")
    banner = bob.page.get_by_test_id("waiting-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("dave")
    panel = bob.chat.open_group_panel()
    expect(panel.member("dave")).to_have_attribute("data-unconfirmed", "true")
    panel.close()
    bob.chat.write_and_press_enter("Who just joined?")
    expect(bob.chat.confirm_dialog).to_be_visible()
    expect(bob.chat.confirm_dialog).to_contain_text("dave")
    bob.chat.answer_confirm(False)
    assert "Who just joined?" not in bob.chat.texts()
    bob.chat.write_and_press_enter("Who just joined?")
    bob.chat.answer_confirm(True)
    cid = bob.chat.wait_for_message("Who just joined?")
    # No admin's device has sent Dave a `group` message since he was added again: what name he
    # shows depends on the older ones he can still read from his first membership (§9.6 trust
    # on first use), so find the group by its id. What was sent while he was out stays unreadable.
    dave.page.locator(f'[data-testid="group-item"][data-group-id="{group_id}"]').get_by_role("button").click()
    expect(dave.chat.message_body(cid)).to_have_text("Who just joined?")
    shown = dave.chat.texts()
    assert "Just the two of us now" not in shown and "Carol is back" not in shown, shown
    assert dave.chat.undecryptable().count() == 0
