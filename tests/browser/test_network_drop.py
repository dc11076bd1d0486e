import time
import pytest
from playwright.sync_api import expect

PASSWORD = "correct horse battery staple 7"

def test_probe(devices, server):
    alice = devices("alice"); alice.register.create_account("alice", PASSWORD)
    bob = devices("bob"); bob.register.create_account("bob", PASSWORD)
    alice.chat.search_and_request("bob")
    bob.chat.accept_request("alice")
    alice.chat.open_conversation("bob"); bob.chat.open_conversation("alice")
    ws_events = []
    alice.page.on("websocket", lambda ws: (ws_events.append(("open", ws.url)), ws.on("close", lambda w: ws_events.append(("close", time.monotonic())))))
    print("sw controller:", alice.page.evaluate("navigator.serviceWorker.controller && navigator.serviceWorker.controller.state"))
    alice.page.reload(); alice.chat.wait_connected(); alice.chat.open_conversation("bob")
    print("sw controller after reload:", alice.page.evaluate("navigator.serviceWorker.controller && navigator.serviceWorker.controller.state"))
    time.sleep(1)
    print("ws", ws_events)
    t0 = time.monotonic()
    alice.context.set_offline(True)
    alice.chat.expect_disconnected()
    print("disconnected after", time.monotonic() - t0, alice.chat.connection.get_attribute("data-state"))
    time.sleep(1)
    print("ws", ws_events, alice.page.evaluate("navigator.onLine"))
    cid = alice.chat.send_text("offline one")
    print("status", alice.chat.status(cid))
    bcid = bob.chat.send_text("bob while alice offline")
    time.sleep(4)
    print("status", alice.chat.status(cid), alice.chat.connection.get_attribute("data-state"))
    alice.context.set_offline(False)
    t0 = time.monotonic()
    alice.chat.wait_connected()
    print("reconnected after", time.monotonic() - t0)
    expect(bob.chat.message_body(cid)).to_have_count(1)
    expect(alice.chat.message_body(bcid)).to_have_count(1)
    print("alice texts", alice.chat.texts(), "bob texts", bob.chat.texts())
    print(alice.diagnostics())
