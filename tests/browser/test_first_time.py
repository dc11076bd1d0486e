"""A first-time user's list (issue 11), in the real browser: friend requests that say whose
they are, no "No friends yet" under a pending request, the key id explained on the safety
screen, presence "unknown" while disconnected, an offline banner without a spinner, a bell
that names its action, the day label not over message text, tiny images in a real box, long
messages folded, and a password reset's unreadable history as one explained notice.

The scenarios share one server and accounts and run in file order; each one can also run
alone (`-k`): missing steps are done first. The last one looks at every view in both colour
schemes on a phone and a laptop (screenshots in SENDAPP_FIRST_TIME_SHOTS or a temporary folder).
"""
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from browser.a11y import audit

pytestmark = pytest.mark.timeout(240)

PASSWORD = "first time password 1"
NEW_PASSWORD = "first time reset password 2"

# A Notification the page can ask for: permission starts 'default' and a request grants it.
ASKABLE_NOTIFICATION = """
(() => {
  class AskableNotification {
    static permission = 'default';
    static requestPermission() { AskableNotification.permission = 'granted'; return Promise.resolve('granted'); }
    constructor() {}
    close() {}
  }
  window.Notification = AskableNotification;
})();
"""

# The element found at the left and right ends of the stuck day label's band, and at its middle.
_UNDER_DAY_BAND = """list => {
  const labels = [...list.querySelectorAll('[data-testid="day-separator"]')];
  const top = list.getBoundingClientRect().top;
  const stuck = labels.find((l) => Math.abs(l.getBoundingClientRect().top - top) < 12);
  if (!stuck) return null;
  const band = stuck.getBoundingClientRect();
  const y = (band.top + band.bottom) / 2;
  const hit = (x) => {
    const el = document.elementFromPoint(x, y);
    return el && el.closest('[data-testid="day-separator"]') ? 'band' : (el?.closest('[data-testid="message"]') ? 'message' : el?.tagName);
  };
  const behind = [...list.querySelectorAll('[data-testid="message"]')].some((m) => {
    const r = m.getBoundingClientRect();
    return r.top < band.bottom && r.bottom > band.top;
  });
  const edge = document.elementFromPoint(band.left + 4, top + 2);  // no gap between the list's edge and the band
  return { left: hit(band.left + 4), right: hit(band.right - 4), edge: edge?.closest('[data-testid="day-separator"]') ? 'band' : edge?.tagName,
    behind, background: getComputedStyle(stuck).backgroundColor };
}"""


def long_message(length=10_000):
    words = "A very long message that goes on and on, to see that it does not fill several screens. "
    return (words * (length // len(words) + 1))[:length]


class World:
    def __init__(self, server, devices):
        self.devices = devices
        self.passwords = {"ann": PASSWORD, "ben": PASSWORD}
        self.ann = devices("ann")
        self.ann.context.add_init_script(ASKABLE_NOTIFICATION)
        self.ann.register.create_account("ann", PASSWORD)
        self.ben = devices("ben")
        self.ben.register.create_account("ben", PASSWORD)
        self.friends = False
        self.reset_done = False
        self.cids = {}

    def ensure_friends(self):
        if self.friends:
            return
        self.ann.chat.search_and_request("ben")
        self.ben.chat.accept_request("ann")
        expect(self.ann.chat.friend("ben")).to_be_visible()
        self.friends = True

    def ensure_talking(self):
        self.ensure_friends()
        for device, peer in ((self.ann, "ben"), (self.ben, "ann")):
            if not device.chat.is_open(peer):
                device.chat.open_conversation(peer)


@pytest.fixture(scope="module")
def world(server, devices):
    return World(server, devices)


def test_requests_name_whose_they_are_and_no_friends_yet_waits(world):
    ann, ben = world.ann, world.ben
    expect(ann.chat.friends_empty).to_be_visible()  # a newcomer with nothing at all sees the hint
    ann.chat.search_and_request("ben")
    expect(ann.chat.friends_empty).to_be_hidden()
    expect(ann.page.get_by_role("button", name="Cancel your friend request to ben")).to_be_visible()

    expect(ben.chat.incoming_request("ann")).to_be_visible()
    expect(ben.chat.friends_empty).to_be_hidden()
    accept = ben.page.get_by_role("button", name="Accept the friend request from ann")
    expect(accept).to_be_visible()
    expect(ben.page.get_by_role("button", name="Decline the friend request from ann")).to_be_visible()
    expect(ben.page.get_by_role("button", name="Accept", exact=True)).to_have_count(0)
    accept.click()
    expect(ben.chat.friend("ann")).to_be_visible()
    expect(ann.chat.friend("ben")).to_be_visible()
    expect(ben.chat.friends_empty).to_be_hidden()
    world.friends = True


def test_the_key_id_is_explained_on_the_safety_screen_not_under_the_name(world):
    world.ensure_talking()
    ann = world.ann
    expect(ann.page.get_by_test_id("me-key-id")).to_have_count(0)
    key_id = ann.page.locator("body").get_attribute("data-key-id")
    assert key_id
    dialog = ann.chat.open_safety_number()
    expect(dialog.own_key).to_be_visible()
    expect(dialog.own_key).to_contain_text(f"Your key id is {key_id}.")
    expect(dialog.own_key).to_contain_text("the same on every device you log in from")
    dialog.close()


def test_presence_is_unknown_and_the_banner_still_while_disconnected(world):
    world.ensure_talking()
    ann = world.ann
    expect(ann.chat.peer_status).to_have_text("online")
    ann.context.set_offline(True)
    try:
        expect(ann.chat.peer_status).to_have_text("status unknown — reconnecting")
        expect(ann.chat.peer_status).to_have_attribute("data-state", "unknown")
        expect(ann.chat.friend("ben").get_by_role("button")).to_have_attribute("aria-label", re.compile("status unknown"))
        expect(ann.chat.banner).to_be_visible()
        expect(ann.chat.banner).to_have_attribute("data-state", "offline")
        expect(ann.chat.banner_spinner).to_be_hidden()  # nothing is in progress while offline
        expect(ann.chat.banner_icon).to_be_visible()
    finally:
        ann.context.set_offline(False)
    ann.chat.wait_connected()
    expect(ann.chat.peer_status).to_have_text("online")
    expect(ann.chat.banner).to_be_hidden()


def test_the_bell_names_what_a_click_does(world):
    world.ensure_friends()
    bell = world.ann.chat.notifications_button
    expect(bell).to_have_attribute("aria-label", "Turn on notifications")
    expect(bell.locator("svg")).to_have_class(re.compile(r"\bicon-bellPlus\b"))  # not the crossed-out "muted" bell
    assert bell.get_attribute("aria-pressed") is None
    bell.click()
    expect(bell).to_have_attribute("aria-label", "Turn off notifications")
    expect(bell.locator("svg")).to_have_class(re.compile(r"\bicon-bell\b"))
    bell.click()
    expect(bell).to_have_attribute("aria-label", "Turn on notifications")
    expect(bell.locator("svg")).to_have_class(re.compile(r"\bicon-bellPlus\b"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_primary_button_is_white_on_a_saturated_fill_in_both_themes(devices, scheme):
    device = devices(f"primary-{scheme}", color_scheme=scheme)
    device.login.open()
    fill, text = device.page.evaluate("""() => {
        const b = document.createElement('button');
        b.className = 'button button-primary';
        b.textContent = 'Primary';
        document.body.append(b);
        const s = getComputedStyle(b);
        return [s.backgroundColor, s.color];
    }""")
    rgb = lambda value: [int(v) for v in re.findall(r"\d+", value)[:3]]  # noqa: E731

    def luminance(c):
        lin = [(v / 255) / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    fill_rgb, text_rgb = rgb(fill), rgb(text)
    assert luminance(text_rgb) > luminance(fill_rgb), f"{scheme}: dark text on a pale fill reads as secondary"
    high, low = max(fill_rgb) / 255, min(fill_rgb) / 255
    saturation = (high - low) / (1 - abs(high + low - 1))
    assert saturation > 0.6, f"{scheme}: the fill {fill} is washed out"
    ratio = (luminance(text_rgb) + 0.05) / (luminance(fill_rgb) + 0.05)
    assert ratio >= 4.5, f"{scheme}: label contrast {ratio:.2f}"


def test_long_messages_fold_and_unfold(world):
    world.ensure_talking()
    ann, ben = world.ann, world.ben
    text = long_message()
    cid = ann.chat.send_text(text)
    world.cids["long"] = cid
    ben.chat.wait_for_message(text)
    toggle = ben.chat.more_toggle(cid)
    expect(toggle).to_have_text("Show more")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    viewport = ben.page.viewport_size["height"]
    folded = ben.chat.message(cid).bounding_box()["height"]
    assert folded < viewport / 2, f"a folded message is {folded}px high"
    toggle.click()
    expect(toggle).to_have_text("Show less")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert ben.chat.message(cid).bounding_box()["height"] > viewport
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert ben.chat.message(cid).bounding_box()["height"] == pytest.approx(folded, abs=2)
    assert ben.chat.message_body(cid).text_content() == text  # folded, never cut
    expect(ben.chat.message(cid).get_by_role("button", name="Show more")).to_have_attribute("aria-controls", re.compile(r"\S"))


def test_tiny_and_thin_images_get_a_real_box(world, make_png):
    world.ensure_talking()
    ann, ben = world.ann, world.ben
    tiny = ann.chat.attach_file("dot.png", "image/png", make_png(4, 4, lambda x, y: (220, 40, 40)))
    thin = ann.chat.attach_file("line.png", "image/png", make_png(600, 3, lambda x, y: (40, 40, 220)))
    world.cids["tiny"] = tiny
    for device in (ann, ben):
        assert device.chat.expect_image_ready(tiny) == (4, 4)
        assert device.chat.expect_image_ready(thin) == (600, 3)
        box = device.chat.image(tiny).locator("img").bounding_box()
        assert box["width"] >= 72 and box["height"] >= 72, f"tiny image drawn {box}"
        assert abs(box["width"] - box["height"]) < 2, "a square stays square"
        expect(device.chat.image(tiny)).to_have_class(re.compile(r"\bis-tiny\b"))
        box = device.chat.image(thin).locator("img").bounding_box()
        assert box["height"] >= 72, f"thin image drawn {box}"


def test_the_day_label_does_not_sit_over_message_text(world):
    world.ensure_talking()
    ann, ben = world.ann, world.ben
    for n in range(14):
        ben.chat.send_text(f"Message {n} to fill the screen\nsecond line\nthird line")
    ann.chat.wait_for_message("Message 13 to fill the screen\nsecond line\nthird line")
    found = ann.chat.message_list.evaluate("""list => { list.scrollTop = Math.floor(list.scrollHeight / 2); return true; }""")
    assert found
    ann.page.wait_for_timeout(100)
    seen = ann.chat.message_list.evaluate(_UNDER_DAY_BAND)
    assert seen is not None, "no day label stuck at the top"
    assert seen["behind"], "the test needs a message scrolled under the label"
    assert seen == {**seen, "left": "band", "right": "band", "edge": "band"}, seen
    assert re.fullmatch(r"rgb\(\d+, \d+, \d+\)", seen["background"]), f"the band is see-through: {seen['background']}"
    ann.chat.message_list.evaluate("list => list.scrollTo(0, list.scrollHeight)")


def ensure_reset(world, admin_cli):
    """Ben's password is reset by the administrator; he logs in again with his new one."""
    if world.reset_done:
        return
    world.ensure_talking()
    ann, ben = world.ann, world.ben
    ann.chat.send_text("Before the reset, one")
    ben.chat.send_text("Before the reset, two")
    last = ann.chat.send_text("Before the reset, three")
    ben.chat.wait_for_message("Before the reset, three")
    world.cids["old"] = last
    admin_cli("users", "reset-password", "ben", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    world.passwords["ben"] = NEW_PASSWORD
    assert ben.chat.reached_login(), "the reset should end Ben's sessions"
    ben.login.log_in("ben", NEW_PASSWORD)
    expect(ann.chat.key_warning).to_be_visible()
    ann.chat.acknowledge_key_change(world.passwords["ann"])
    world.reset_done = True


def test_a_password_reset_leaves_one_explained_notice_not_a_wall_of_errors(world, admin_cli):
    ensure_reset(world, admin_cli)
    ann, ben = world.ann, world.ben
    ben.chat.open_conversation("ann")
    ben.chat.scroll_to_top()
    expect(ben.chat.history_status).to_have_attribute("data-state", "start")
    notices = ben.chat.sealed_notices()
    expect(notices).to_have_count(1)
    count = int(notices.get_attribute("data-count"))
    assert count >= 3, f"every message before the reset is in the notice: {count}"
    expect(notices).to_contain_text(f"{count} earlier messages can’t be read on this device")
    expect(notices).to_contain_text("sealed for a key this account no longer has")
    expect(ben.chat.message_list.get_by_test_id("message-undecryptable")).to_have_count(0)
    expect(ben.chat.undecryptable(world.cids["old"])).to_have_count(1)
    # What is written after the reset reads normally, below the notice.
    ben.chat.send_text("After the reset, readable")
    ann.chat.wait_for_message("After the reset, readable")
    expect(ben.chat.sealed_notices()).to_have_count(1)
    assert ben.chat.texts()[-1] == "After the reset, readable"


VIEWS = [("light", "phone"), ("dark", "phone"), ("light", "laptop"), ("dark", "laptop")]


@pytest.mark.parametrize(("scheme", "form"), VIEWS)
def test_the_views_read_well_in_both_themes_and_sizes(world, devices, admin_cli, scheme, form, tmp_path, make_png):
    ensure_reset(world, admin_cli)
    if "after" not in world.cids:  # what Ben's new devices can read: written after the reset
        world.ensure_talking()
        world.cids["after"] = world.ann.chat.send_text(long_message())
        world.ann.chat.attach_file("dot.png", "image/png", make_png(4, 4, lambda x, y: (220, 40, 40)))
        world.ann.chat.attach_file("line.png", "image/png", make_png(600, 3, lambda x, y: (40, 40, 220)))
    shots = Path(os.environ.get("SENDAPP_FIRST_TIME_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    ben = devices(f"ben-{scheme}-{form}", form, color_scheme=scheme)
    ben.login.log_in("ben", world.passwords["ben"])
    newcomer = devices(f"new-{scheme}-{form}")
    name = f"new{scheme}{form}"
    newcomer.register.create_account(name, PASSWORD)
    newcomer.chat.search_and_request("ben")
    expect(ben.chat.incoming_request(name)).to_be_visible()
    ben.screenshot(shots / f"{form}-{scheme}-list.png")
    assert audit(ben.page) == [], "the conversation list"
    ben.page.get_by_role("button", name=f"Decline the friend request from {name}").click()
    expect(ben.chat.incoming_request(name)).to_have_count(0)
    newcomer.close()
    ben.chat.open_conversation("ann")
    ben.chat.scroll_to_top()
    expect(ben.chat.history_status).to_have_attribute("data-state", "start")
    expect(ben.chat.sealed_notices()).to_have_count(1)
    ben.chat.sealed_notices().scroll_into_view_if_needed()
    ben.screenshot(shots / f"{form}-{scheme}-notice.png")
    ben.chat.message(world.cids["after"]).scroll_into_view_if_needed()
    ben.screenshot(shots / f"{form}-{scheme}-long.png")
    assert audit(ben.page) == [], "the conversation"
    ben.chat.more_toggle(world.cids["after"]).click()
    ben.chat.message_list.evaluate("list => { list.scrollTop = list.scrollHeight / 2; }")
    ben.screenshot(shots / f"{form}-{scheme}-scrolled.png")
    ben.chat.message_list.evaluate("list => { list.scrollTop = list.scrollHeight; }")
    ben.screenshot(shots / f"{form}-{scheme}-images.png")
    ben.context.set_offline(True)
    try:
        expect(ben.chat.peer_status).to_have_text("status unknown — reconnecting")
        ben.screenshot(shots / f"{form}-{scheme}-offline.png")
        assert audit(ben.page) == [], "offline"
    finally:
        ben.context.set_offline(False)
    ben.chat.wait_connected()
    dialog = ben.chat.open_safety_number()
    ben.screenshot(shots / f"{form}-{scheme}-safety.png")
    assert audit(ben.page) == [], "the safety screen"
    dialog.close()
