"""Attachments on a slow or missing link: progress, cancel, and the upload outbox.

Alice and Bob are friends with their conversation open. Alice's uploads are slowed with
Chromium's network emulation (CDP `Network.emulateNetworkConditions`, upload throughput) so
the progress can be watched; a MutationObserver in her page records every value the progress
bar takes. Offline sends are kept in IndexedDB (ciphertext) and go out on the next connection,
also after a reload; Bob then receives and decrypts each attachment exactly once.
"""
import re
import secrets

import pytest
from playwright.sync_api import expect

from browser.a11y import audit
from browser.pages import SENT_OR_LATER, WAIT_MS

pytestmark = pytest.mark.timeout(240)

PASSWORD = "slow link passphrase 8"
BLOBS = "**/api/blobs?*"
BACK_MS = 40_000  # reconnect, then the upload retry (backs off from 2 s)

# Every value the attachment progress bars take, in order: [phase, aria-valuenow, aria-busy].
PROGRESS_RECORDER = """
(() => {
  window.__progress = [];
  const note = (el) => window.__progress.push([el.getAttribute('data-phase'), el.getAttribute('aria-valuenow'), el.getAttribute('aria-busy')]);
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.target.dataset?.testid === 'attachment-progress') note(r.target);
      for (const node of r.addedNodes || []) {
        if (node.querySelectorAll) node.querySelectorAll('[data-testid="attachment-progress"]').forEach(note);
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow', 'data-phase'] });
})();
"""


class Link:
    """A device's link speed, set through the DevTools protocol (what a slow phone link does)."""

    def __init__(self, device):
        self.cdp = device.context.new_cdp_session(device.page)
        self.cdp.send("Network.enable")

    def slow(self, upload_bytes_per_s=-1, download_bytes_per_s=-1):
        self.cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 20, "downloadThroughput": download_bytes_per_s, "uploadThroughput": upload_bytes_per_s})

    def fast(self):
        self.cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


@pytest.fixture(scope="module")
def pair(devices):
    alice = devices("alice-slow")
    alice.context.add_init_script(PROGRESS_RECORDER)
    alice.register.create_account("aliceslow", PASSWORD)
    bob = devices("bob-slow")
    bob.register.create_account("bobslow", PASSWORD)
    alice.chat.search_and_request("bobslow")
    expect(bob.chat.incoming_request("aliceslow")).to_be_visible()
    bob.chat.accept_request("aliceslow")
    expect(alice.chat.friend("bobslow")).to_be_visible()
    return alice, bob


def talking(alice, bob):
    for device, peer in ((alice, "bobslow"), (bob, "aliceslow")):
        device.chat.wait_connected()
        if not device.chat.is_open(peer):
            device.chat.open_conversation(peer)


def recorded(alice):
    return alice.page.evaluate("window.__progress")


def blob_posts(device):
    """Record the answers to every blob upload of the device's page: a list of statuses."""
    statuses = []
    device.page.on("response", lambda r: statuses.append(r.status) if "/api/blobs?" in r.url and r.request.method == "POST" else None)
    return statuses


def received_once(bob, cid, name, data):
    """Bob shows the attachment exactly once, and it decrypts to exactly `data`."""
    expect(bob.chat.file_attachment(cid)).to_contain_text(name, timeout=BACK_MS)
    expect(bob.chat.message(cid)).to_have_count(1)
    got_name, got = bob.chat.download(cid)
    assert got_name == name
    assert got == data


# 1 ------------------------------------------------------------------------------------

def test_upload_progress_is_shown_and_reaches_completion(pair):
    alice, bob = pair
    talking(alice, bob)
    link = Link(alice)
    data = secrets.token_bytes(900_000)
    alice.page.evaluate("window.__progress = []")
    link.slow(150_000)  # about 6 s for the file
    try:
        cid = alice.chat.attach_file("survey.bin", "application/octet-stream", data)
        bar = alice.chat.upload_progress(cid)
        expect(bar).to_have_attribute("data-phase", "uploading")
        expect(alice.chat.upload_label(cid)).to_contain_text("Uploading")
        alice.page.wait_for_function(
            "() => window.__progress.some(([phase, now]) => phase === 'uploading' && Number(now) > 0 && Number(now) < 100)",
            timeout=WAIT_MS)
        # Named, readable and announced while it runs: a labelled bar and a named cancel button.
        assert audit(alice.page) == [], "an upload in progress"
        expect(alice.chat.message(cid).get_by_role("button", name="Cancel sending survey.bin")).to_be_visible()
        expect(bar).to_have_attribute("aria-valuetext", re.compile(r"^Uploading \d+ %$"))
        alice.chat.expect_status(cid, SENT_OR_LATER, timeout=BACK_MS)
    finally:
        link.fast()
    expect(alice.chat.upload_box(cid)).to_have_count(0)  # done: a plain attachment again
    values = [int(now) for phase, now, _ in recorded(alice) if phase == "uploading" and now is not None]
    assert values == sorted(values), f"progress went backwards: {values}"
    assert values[-1] == 100, f"the upload never reached 100 %: {values}"
    # Encrypting was shown as busy, never with a made-up percentage.
    encrypting = [(now, busy) for phase, now, busy in recorded(alice) if phase == "encrypting"]
    assert all(now is None and busy == "true" for now, busy in encrypting), encrypting
    received_once(bob, cid, "survey.bin", data)


# 2 ------------------------------------------------------------------------------------

def test_cancel_stops_the_upload_and_nothing_is_sent(pair):
    alice, bob = pair
    talking(alice, bob)
    link = Link(alice)
    statuses = blob_posts(alice)
    data = secrets.token_bytes(1_500_000)
    link.slow(60_000)  # 25 s: plenty of time to cancel midway
    try:
        cid = alice.chat.attach_file("too slow.bin", "application/octet-stream", data)
        expect(alice.chat.upload_progress(cid)).to_have_attribute("data-phase", "uploading")
        alice.chat.cancel_upload(cid, "too slow.bin")
        expect(alice.chat.message(cid)).to_have_count(0)
    finally:
        link.fast()
    # The next message arrives; the cancelled attachment never does, nor is a blob stored.
    after = alice.chat.send_text("after the cancel")
    expect(bob.chat.message_body(after)).to_have_count(1)
    expect(bob.chat.message(cid)).to_have_count(0)
    assert 201 not in statuses, f"a blob was stored: {statuses}"
    assert alice.stored()["uploads"] == 0
    alice.page.reload()
    alice.chat.wait_connected()
    alice.chat.open_conversation("bobslow")
    expect(alice.chat.message_body(after)).to_have_count(1)
    expect(alice.chat.message(cid)).to_have_count(0)


# 3 ------------------------------------------------------------------------------------

def test_an_attachment_sent_offline_is_kept_and_delivered_once_after_reconnect(pair):
    alice, bob = pair
    talking(alice, bob)
    data = secrets.token_bytes(120_000)
    alice.context.set_offline(True)
    try:
        expect(alice.chat.connection).not_to_have_attribute("data-state", "connected")
        cid = alice.chat.attach_file("offline.bin", "application/octet-stream", data)
        expect(alice.chat.upload_progress(cid)).to_have_attribute("data-phase", "waiting")
        expect(alice.chat.upload_label(cid)).to_have_text("Waiting for a connection to upload")
        alice.chat.expect_status(cid, "sending")
        assert alice.stored()["uploads"] == 1
    finally:
        alice.context.set_offline(False)
    alice.chat.expect_status(cid, SENT_OR_LATER, timeout=BACK_MS)
    received_once(bob, cid, "offline.bin", data)
    assert alice.stored()["uploads"] == 0


# 4 ------------------------------------------------------------------------------------

def test_a_kept_attachment_survives_a_reload_and_is_delivered_once(pair):
    alice, bob = pair
    talking(alice, bob)
    data = secrets.token_bytes(80_000)
    # Uploads cannot get through (as on a dead link); the rest of the page works.
    alice.context.route(BLOBS, lambda route: route.abort("internetdisconnected"))
    try:
        cid = alice.chat.attach_file("kept.bin", "application/octet-stream", data)
        expect(alice.chat.upload_progress(cid)).to_have_attribute("data-phase", "waiting")
        alice.page.reload()
        alice.chat.wait_connected()
        alice.chat.open_conversation("bobslow")
        # Back from IndexedDB, still waiting, once; nothing reached Bob.
        expect(alice.chat.message(cid)).to_have_count(1)
        expect(alice.chat.upload_box(cid)).to_contain_text("kept.bin")
        expect(alice.chat.upload_progress(cid)).to_have_attribute("data-phase", "waiting")
        alice.chat.expect_status(cid, "sending")
        assert alice.stored()["uploads"] == 1
        expect(bob.chat.message(cid)).to_have_count(0)
    finally:
        alice.context.unroute(BLOBS)
    alice.chat.expect_status(cid, SENT_OR_LATER, timeout=BACK_MS)
    received_once(bob, cid, "kept.bin", data)
    expect(alice.chat.message(cid)).to_have_count(1)
    assert alice.stored()["uploads"] == 0


# 5 ------------------------------------------------------------------------------------

def test_a_download_shows_its_progress_and_can_be_cancelled_then_retried(pair):
    alice, bob = pair
    talking(alice, bob)
    data = secrets.token_bytes(1_200_000)
    cid = alice.chat.attach_file("big scan.bin", "application/octet-stream", data)
    alice.chat.expect_status(cid, SENT_OR_LATER, timeout=BACK_MS)
    box = bob.chat.file_attachment(cid)
    expect(box).to_contain_text("big scan.bin")
    link = Link(bob)
    link.slow(download_bytes_per_s=60_000)  # 20 s for the file
    try:
        box.get_by_test_id("attachment-download").click()
        bar = bob.chat.message(cid).get_by_role("progressbar", name="Progress of big scan.bin")
        expect(bar).to_have_attribute("data-phase", "downloading")
        expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9][0-9]?$"))  # measured, under way
        assert audit(bob.page) == [], "a download in progress"
        bob.chat.message(cid).get_by_role("button", name="Cancel downloading big scan.bin").click()
        error = bob.chat.message(cid).get_by_test_id("attachment-error")
        expect(error).to_contain_text("you cancelled it")
    finally:
        link.fast()
    error.get_by_role("button", name="Try big scan.bin again").click()
    name, got = bob.chat.download(cid)
    assert (name, got) == ("big scan.bin", data)
