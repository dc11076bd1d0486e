"""A long conversation in the browser: newest page first, older pages on scrolling up, a
jump-to-latest button, day separators; and the installable app's manifest."""
import asyncio
import threading

import pytest
from playwright.sync_api import expect

from sendapp.client import Account, HttpApi, RealtimeClient
from support.live_server import TEST_KDF_ITERATIONS

pytestmark = pytest.mark.timeout(240)
PASSWORD = "history password 1"
COUNT = 70  # more than one page (50)


def send_from_python(server, username, friend_id, texts):
    """Send as `username` from a second device (the Python client), in its own thread:
    Playwright's sync API owns this thread's event loop."""
    failure = []

    async def send():
        account = Account.login(HttpApi(server.url, ca=str(server.cert_path)), username, PASSWORD,
                                min_iterations=TEST_KDF_ITERATIONS)
        async with RealtimeClient(account) as live:
            for text in texts:
                await live.send_text(friend_id, text, timeout=20)

    def run():
        try:
            asyncio.run(asyncio.wait_for(send(), 120))
        except BaseException as error:  # reported to the test below
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(150)
    assert not thread.is_alive() and not failure, failure


def test_long_history_pages_back_and_jumps_to_latest(devices, server):
    alice, bob = devices("alice-history"), devices("bob-history", "laptop")
    alice.register.create_account("alicehist", PASSWORD)
    bob.register.create_account("bobhist", PASSWORD)
    alice.chat.search_and_request("bobhist")
    bob.chat.accept_request("alicehist")
    expect(alice.chat.friend("bobhist")).to_be_visible()
    bob_id = int(alice.chat.friend("bobhist").get_attribute("data-friend-id"))

    texts = [f"history line {i:02d}" for i in range(COUNT)]
    send_from_python(server, "alicehist", bob_id, texts)

    # A new device starts at the newest id and loads each conversation's history on demand.
    bob = devices("bob-history-new-phone", "phone")
    bob.login.log_in("bobhist", PASSWORD)
    bob.chat.open_conversation("alicehist")
    last = bob.chat.wait_for_message(texts[-1])
    expect(bob.chat.history_status).to_have_attribute("data-state", "more")
    shown = bob.chat.texts()
    assert len(shown) < COUNT and shown == texts[-len(shown):]  # the newest page, in order
    assert bob.chat.is_in_view(last)  # opened at the bottom
    expect(bob.chat.jump_to_latest).to_be_hidden()
    expect(bob.chat.day_separators()).to_have_count(1)
    expect(bob.chat.day_separators().first).to_have_text("Today")

    for _ in range(5):  # each flick to the top loads one older page
        if bob.chat.history_state() == "start":
            break
        bob.chat.scroll_to_top()
        bob.page.wait_for_timeout(300)
    expect(bob.chat.history_status).to_have_attribute("data-state", "start")
    assert bob.chat.texts() == texts  # every message once, oldest first
    assert not bob.chat.is_in_view(last)

    expect(bob.chat.jump_to_latest).to_be_visible()
    bob.chat.jump_to_latest.click()
    expect(bob.chat.jump_to_latest).to_be_hidden()
    bob.chat.wait_in_view(last)


def test_the_app_is_installable_with_a_manifest_and_service_worker(devices):
    carol = devices("carol-install")
    carol.login.open()
    href = carol.page.locator('link[rel="manifest"]').get_attribute("href")
    manifest = carol.page.request.get(carol.base_url + href)
    assert manifest.ok and manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["display"] == "standalone" and data["start_url"]
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    worker = carol.page.request.get(carol.base_url + "/sw.js")
    assert worker.ok and worker.headers["service-worker-allowed"] == "/"
