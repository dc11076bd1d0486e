"""Browser notifications: shown for a new message while the tab is in the background only.

Headless Chromium cannot show real notifications or lose focus, so the page gets a recording
Notification (permission granted) and a switch for document.hasFocus before it loads."""
import pytest
from playwright.sync_api import expect

from browser.a11y import audit

pytestmark = pytest.mark.timeout(180)
PASSWORD = "notified password 1"

RECORDING_NOTIFICATION = """
(() => {
  window.__notes = [];
  window.__focused = true;
  document.hasFocus = () => window.__focused;
  class RecordingNotification {
    static permission = 'granted';
    static requestPermission() { return Promise.resolve('granted'); }
    constructor(title, options = {}) { window.__notes.push({ title, body: options.body }); }
    close() {}
  }
  window.Notification = RecordingNotification;
})();
"""


def notes(device):
    return device.page.evaluate("window.__notes")


def test_background_tab_gets_a_notification_and_a_focused_one_does_not(devices):
    alice, bob = devices("alice-notes", "laptop"), devices("bob-notes", "laptop")
    alice.context.add_init_script(RECORDING_NOTIFICATION)
    alice.register.create_account("alicenotes", PASSWORD)
    bob.register.create_account("bobnotes", PASSWORD)
    alice.chat.search_and_request("bobnotes")
    bob.chat.accept_request("alicenotes")
    bob.chat.open_conversation("alicenotes")

    bob.chat.send_text("seen while looking")
    expect(alice.chat.friend("bobnotes")).to_be_visible()
    expect(alice.chat.unread("bobnotes")).to_have_text("1")
    assert notes(alice) == []  # focused and visible: the badge is enough

    alice.page.evaluate("window.__focused = false")  # the person switched to another window
    bob.chat.send_text("ping from the background")
    alice.page.wait_for_function("() => window.__notes.length === 1", timeout=15_000)
    assert notes(alice) == [{"title": "bobnotes", "body": "ping from the background"}]


def test_hidden_message_text_shows_the_sender_only_and_stays_set_on_this_device(devices):
    alice, bob = devices("alice-quiet", "laptop"), devices("bob-quiet", "laptop")
    alice.context.add_init_script(RECORDING_NOTIFICATION)
    alice.register.create_account("alicequiet", PASSWORD)
    bob.register.create_account("bobquiet", PASSWORD)
    alice.chat.search_and_request("bobquiet")
    bob.chat.accept_request("alicequiet")
    bob.chat.open_conversation("alicequiet")
    expect(alice.chat.friend("bobquiet")).to_be_visible()

    alice.page.get_by_role("button", name="Notification settings").click()
    assert audit(alice.page) == [], "notification settings dialog"
    alice.chat.press("Escape")
    alice.chat.set_hide_notification_text(True)
    alice.page.evaluate("window.__focused = false")
    bob.chat.send_text("the door code is 4711")
    alice.page.wait_for_function("() => window.__notes.length === 1", timeout=15_000)
    assert notes(alice) == [{"title": "bobquiet", "body": "New message"}]

    # Per device: a reload keeps the choice; turning it off shows the text again.
    alice.page.reload()
    alice.chat.wait_connected()
    assert alice.chat.hides_notification_text() is True
    alice.chat.set_hide_notification_text(False)
    alice.page.evaluate("window.__focused = false")
    bob.chat.send_text("shown again")
    alice.page.wait_for_function("() => window.__notes.length === 1", timeout=15_000)
    assert notes(alice) == [{"title": "bobquiet", "body": "shown again"}]
