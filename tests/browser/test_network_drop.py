"""Alice's network drops for a while and comes back: nothing is lost, nothing is doubled.

Alice and Bob are friends with their conversation open. Alice's network then goes away the
way a real one does: her browser is offline, and the WebSocket she had open goes silent
without the server being told (see `Network`). While she is cut off she writes three
messages and Bob writes two; when she is back, each side shows the other's messages exactly
once and in order, without a reload. The second scenario also reloads Alice's page while she
is offline: the service worker serves the app, and her outbox (IndexedDB) survives.

The drop lasts about five seconds to keep the suite fast. Nothing in the mechanism depends on
the duration: the outbox is kept in IndexedDB and resent with the same cids on the next
connect, after a `sync` from the stored cursor, however long the gap was.
"""
import os
import re
import time

import pytest
from playwright.sync_api import expect

from browser.pages import SENT_OR_LATER, Device, lower_kdf_floor

# SENDAPP_TEST_OFFLINE_SECONDS=65 reproduces "drop the network for a minute" (past the
# server's ping timeout) on demand; the suite keeps the drop short.
OFFLINE_FOR_S = float(os.environ.get("SENDAPP_TEST_OFFLINE_SECONDS") or 5.0)
pytestmark = pytest.mark.timeout(120 + 3 * OFFLINE_FOR_S)

PASSWORD = "network drop passphrase 3"
SOCKET_IO = "**/socket.io/**"
DROP_NOTICED_MS = 5_000  # the page shows it is not connected within this time
BACK_MS = 15_000  # back online: connected, synced and resent within this time
NOT_CONNECTED = re.compile(r"^(offline|reconnecting)$")
ENGINE_IO_UPGRADE = "5"  # the packet that moves an Engine.IO connection onto the WebSocket


class Network:
    """One device's link to the server, which a test can cut like a real network drop.

    Chromium's offline emulation (`context.set_offline`) fails every new request and fires
    the page's `offline` event, but it leaves an already-open WebSocket open. The app's
    Socket.IO client does close its WebSocket on the `offline` event, yet that close frame would
    still reach the server, which a real drop never lets happen. (`context.route` cannot help:
    it does not see WebSockets.) So every Socket.IO WebSocket of the device goes through a
    Playwright WebSocket route that forwards both ways; `cut()` turns the open ones into black
    holes in both directions, then goes offline. The server keeps the dead connection (and
    pushes into it) until its ping timeout, 20 to 40 s later.
    """

    def __init__(self, context):
        self.context = context
        self.up = True
        self.routes = []  # (page side, server side) of every WebSocket forwarded
        self.upgrades = 0  # Socket.IO connections moved onto a WebSocket since the last restore
        self.closed_by_page = []  # close codes the page sent into the black hole
        context.route_web_socket(SOCKET_IO, self._route)

    def _route(self, ws):
        if not self.up:  # a new WebSocket while offline never reaches the server
            ws.close()
            return
        server = ws.connect_to_server()

        def forward(message):
            if message == ENGINE_IO_UPGRADE:
                self.upgrades += 1
            server.send(message)

        ws.on_message(forward)
        self.routes.append((ws, server))

    def wait_on_websocket(self, page):
        """Wait until the page's Socket.IO connection runs over a (routed) WebSocket."""
        wait_until(page, lambda: self.upgrades, BACK_MS, "the Socket.IO connection upgrades to a WebSocket")

    def cut(self):
        self.up = False
        for ws, server in self.routes:
            ws.on_message(lambda message: None)
            ws.on_close(lambda code, reason: self.closed_by_page.append(code))
            server.on_message(lambda message: None)
            server.on_close(lambda code, reason: None)
        self.routes = []
        self.context.set_offline(True)

    def restore(self):
        self.up = True
        self.upgrades = 0
        self.context.set_offline(False)


def wait_until(page, check, timeout_ms, what):
    """Poll a Python-side condition while Playwright's events keep flowing (no time.sleep)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_ms} ms: {what}"
        page.wait_for_timeout(50)


@pytest.fixture(scope="module")
def pair(devices):
    """Alice (behind a `Network` that can be cut) and Bob, registered and friends."""
    alice = devices("alice")
    network = Network(alice.context)  # before her page opens any socket
    alice.register.create_account("alice", PASSWORD)
    bob = devices("bob")
    bob.register.create_account("bob", PASSWORD)
    alice.chat.search_and_request("bob")
    expect(bob.chat.incoming_request("alice")).to_be_visible()
    bob.chat.accept_request("alice")
    expect(alice.chat.friend("bob")).to_be_visible()
    return alice, bob, network


def open_conversations(alice, bob):
    for device, peer in ((alice, "bob"), (bob, "alice")):
        device.chat.wait_connected()
        if not device.chat.is_open(peer):
            device.chat.open_conversation(peer)
    bob.chat.expect_online("alice")


def drop(alice, network):
    """Cut Alice's network; answers when it happened. Her page must notice, and close its socket."""
    network.wait_on_websocket(alice.page)  # else there is no open WebSocket to break
    network.closed_by_page.clear()
    started = time.monotonic()
    network.cut()
    expect(alice.chat.connection).to_have_attribute("data-state", NOT_CONNECTED, timeout=DROP_NOTICED_MS)
    wait_until(alice.page, lambda: network.closed_by_page, DROP_NOTICED_MS, "Alice's page closes its WebSocket")
    return started


def write_while_offline(alice, bob, tag):
    """Alice writes three messages (kept as "sending"), Bob two; answers both lists of cids."""
    mine = [alice.chat.send_text(f"{tag}: Alice, offline, number {n}") for n in (1, 2, 3)]
    for cid in mine:
        alice.chat.expect_status(cid, "sending")
    theirs = [bob.chat.send_text(f"{tag}: Bob, while Alice is offline, number {n}") for n in (1, 2)]
    for cid in theirs:
        bob.chat.expect_status(cid, SENT_OR_LATER)
    return mine, theirs


def stay_offline(alice, started, mine, theirs):
    """Keep Alice offline for OFFLINE_FOR_S in all; nothing may move meanwhile."""
    alice.page.wait_for_timeout(max(0, int((started + OFFLINE_FOR_S - time.monotonic()) * 1000)))
    assert [alice.chat.status(cid) for cid in mine] == ["sending"] * 3
    shown = alice.chat.cids()
    assert [cid for cid in theirs if cid in shown] == [], "Bob's messages reached Alice while offline"
    assert NOT_CONNECTED.match(alice.chat.connection.get_attribute("data-state"))


def assert_once_in_order(device, cids):
    shown = device.chat.cids()
    assert [shown.count(cid) for cid in cids] == [1] * len(cids), f"{device.name} shows {shown}"
    positions = [shown.index(cid) for cid in cids]
    assert positions == sorted(positions), f"{device.name} shows them out of order: {shown}"


def assert_everything_arrived_once(alice, bob, mine, theirs, tag):
    """After the reconnect: both sides hold all five messages exactly once, in the same order."""
    alice.chat.wait_connected(timeout=BACK_MS)
    for cid in mine:
        expect(bob.chat.message_body(cid)).to_have_count(1, timeout=BACK_MS)
        alice.chat.expect_status(cid, SENT_OR_LATER, timeout=BACK_MS)
    for cid in theirs:
        expect(alice.chat.message_body(cid)).to_have_count(1, timeout=BACK_MS)
    # One more message each way settles it: a resend or a late sync copy would show before it.
    for sender, receiver, text in ((bob, alice, f"{tag}: Bob, after the reconnect"),
                                   (alice, bob, f"{tag}: Alice, after the reconnect")):
        cid = sender.chat.send_text(text)
        expect(receiver.chat.message_body(cid)).to_have_text(text)
        sender.chat.expect_status(cid, SENT_OR_LATER)

    for device in (alice, bob):
        assert_once_in_order(device, mine)
        assert_once_in_order(device, theirs)
        texts = device.chat.texts()
        assert [t for t in texts if t.startswith(f"{tag}: Alice, offline")] == [
            f"{tag}: Alice, offline, number {n}" for n in (1, 2, 3)], device.name
        assert [t for t in texts if t.startswith(f"{tag}: Bob, while")] == [
            f"{tag}: Bob, while Alice is offline, number {n}" for n in (1, 2)], device.name
    # Both show the same conversation: once stored, messages are ordered by the server's id.
    on_alice = [cid for cid in alice.chat.cids() if cid in mine + theirs]
    on_bob = [cid for cid in bob.chat.cids() if cid in mine + theirs]
    assert on_alice == on_bob
    for cid in mine:
        alice.chat.expect_status(cid, SENT_OR_LATER)


# 1 ------------------------------------------------------------------------------------

def test_a_network_drop_loses_and_doubles_nothing(pair):
    alice, bob, network = pair
    open_conversations(alice, bob)
    alice.mark_page()
    bob.mark_page()

    started = drop(alice, network)
    mine, theirs = write_while_offline(alice, bob, "drop")
    # The server was not told: Alice still looks online to Bob, so his two messages were
    # pushed into her dead connection. Only the sync after the reconnect can bring them.
    bob.chat.expect_online("alice")
    stay_offline(alice, started, mine, theirs)

    network.restore()
    assert_everything_arrived_once(alice, bob, mine, theirs, "drop")
    assert alice.still_marked(), "Alice's page was reloaded"
    assert bob.still_marked(), "Bob's page was reloaded"


# 2 ------------------------------------------------------------------------------------

def test_a_reload_while_offline_keeps_the_outbox_and_sends_it_once(pair):
    alice, bob, network = pair
    open_conversations(alice, bob)
    alice.chat.wait_kept_for_offline()  # else the offline reload has no page to show
    alice.chat.wait_controlled()  # the active worker claimed the page, or the page asked it to
    alice.mark_page()
    bob.mark_page()

    started = drop(alice, network)
    mine, theirs = write_while_offline(alice, bob, "reload")

    response = alice.page.reload()
    assert response is not None and response.from_service_worker, "the offline page did not come from the worker"
    assert not alice.still_marked()  # it really was reloaded
    expect(alice.chat.connection).to_have_attribute("data-state", NOT_CONNECTED)
    alice.chat.open_conversation("bob")
    # The outbox came back from IndexedDB: each message once, still waiting.
    for cid in mine:
        expect(alice.chat.message_body(cid)).to_have_count(1)
        alice.chat.expect_status(cid, "sending")
    stay_offline(alice, started, mine, theirs)

    network.restore()
    assert_everything_arrived_once(alice, bob, mine, theirs, "reload")
    assert bob.still_marked(), "Bob's page was reloaded"


# 3 ------------------------------------------------------------------------------------

def test_a_blip_that_the_websocket_survives_ends_connected(pair, browser, server, devices):
    """At https://localhost the Socket.IO client keeps its WebSocket through an `offline` event
    (it closes it on any other host name), and Chromium's offline emulation leaves it open too:
    after the blip the socket is still connected, and the page must say so again."""
    alice, bob, _ = pair
    open_conversations(alice, bob)
    context = browser.new_context(ignore_https_errors=True, locale="en-US", timezone_id="UTC",
                                  viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    lower_kdf_floor(context)
    laptop = Device("alice-at-localhost", context, server.url.replace("127.0.0.1", "localhost"))
    devices.opened.append(laptop)  # closed with the others, and in failure reports
    sockets, upgraded = [], []
    laptop.page.on("websocket", lambda ws: (sockets.append(ws), ws.on(
        "framesent", lambda payload: upgraded.append(ws) if payload == ENGINE_IO_UPGRADE else None)))
    laptop.login.log_in("alice", PASSWORD)
    laptop.chat.open_conversation("bob")
    wait_until(laptop.page, lambda: upgraded, BACK_MS, "the Socket.IO connection upgrades to a WebSocket")
    laptop.mark_page()

    context.set_offline(True)
    expect(laptop.chat.connection).to_have_attribute("data-state", NOT_CONNECTED, timeout=DROP_NOTICED_MS)
    laptop.page.wait_for_timeout(1000)
    context.set_offline(False)
    laptop.chat.wait_connected(timeout=BACK_MS)
    # This is the case under test: the same WebSocket carried the connection all along.
    assert sockets == upgraded and not sockets[0].is_closed()

    cid = laptop.chat.send_text("blip: Alice from localhost, after the blip")
    expect(bob.chat.message_body(cid)).to_have_count(1)
    laptop.chat.expect_status(cid, SENT_OR_LATER)
    assert laptop.still_marked(), "the page was reloaded"
    laptop.close()
