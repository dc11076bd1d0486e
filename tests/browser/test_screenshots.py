"""Screenshots for the docs: the main views on a phone (390×844) and a laptop (1280×800).

Taken on every run (CI too) into a temporary folder; with SENDAPP_UPDATE_SCREENSHOTS=1
(`make screenshots`) they replace docs/screenshots/<viewport>-<view>.png. A fresh server with
fixed names, a few messages and one picture keeps them stable between runs.
"""
import math
import os
import struct

import pytest
from playwright.sync_api import expect

from support.live_server import ROOT

pytestmark = pytest.mark.timeout(180)

DOCS_SHOTS = ROOT / "docs" / "screenshots"
VIEWS = ("login", "conversations", "conversation", "safety")
PASSWORD = "screenshots password 1"


def png_size(path):
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def scenery(width, height):
    """A small landscape: sky, sun, two hills and a lake (a plain PNG; no image library needed)."""
    def pixel(x, y):
        if y > height * 0.74:  # the lake, with a soft horizontal shimmer
            shimmer = 18 if (y + int(6 * math.sin(x / 23))) % 11 == 0 else 0
            return (50 + shimmer, 120 + shimmer, 175 + shimmer)
        far = height * (0.50 + 0.08 * math.sin(x / width * 5.0 + 1.0))
        near = height * (0.62 + 0.07 * math.sin(x / width * 3.1 + 2.4))
        if y > near:
            return (58, 118, 62)
        if y > far:
            return (96, 140, 104)
        if (x - width * 0.74) ** 2 + (y - height * 0.26) ** 2 < (height * 0.10) ** 2:
            return (255, 214, 90)
        return (110 + 90 * y // height, 160 + 60 * y // height, 236)
    return pixel


def test_screenshots_of_the_main_views(devices, make_png, tmp_path):
    update_docs = os.environ.get("SENDAPP_UPDATE_SCREENSHOTS") == "1"
    shots = DOCS_SHOTS if update_docs else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    targets = {(form, view): shots / f"{form}-{view}.png" for form in ("phone", "laptop") for view in VIEWS}
    for path in targets.values():
        path.unlink(missing_ok=True)

    alice = devices("alice", "laptop")
    bob = devices("bob", "phone")
    carol = devices("carol", "laptop")

    alice.login.open()
    alice.screenshot(targets["laptop", "login"])
    bob.login.open()
    bob.screenshot(targets["phone", "login"])

    for device in (alice, bob, carol):
        device.register.create_account(device.name, PASSWORD)
    alice.chat.search_and_request("bob")
    bob.chat.accept_request("alice")
    carol.chat.search_and_request("alice")
    alice.chat.accept_request("carol")

    alice.chat.open_conversation("bob")
    bob.chat.open_conversation("alice")
    first = alice.chat.send_text("Hi Bob! Back from the hike 🥾")
    expect(bob.chat.message_body(first)).to_be_visible()
    reply = bob.chat.send_text("Welcome back! How was the weather? ☀️")
    expect(alice.chat.message_body(reply)).to_be_visible()
    picture = alice.chat.attach_file("lake.png", "image/png", make_png(480, 320, scenery(480, 320)))
    bob.chat.expect_image_ready(picture)
    alice.chat.expect_image_ready(picture)
    last = alice.chat.send_text("Perfect. Same trail next Saturday?")
    bob.chat.expect_status(bob.chat.send_text("Count me in 👍"), "read")
    alice.chat.expect_status(last, "read")
    carol.chat.open_conversation("alice")
    carol.chat.send_text("Are we still on for lunch tomorrow?")
    expect(alice.chat.unread("carol")).to_have_text("1")

    for device in (alice, bob):
        device.chat.dismiss_toasts()
    alice.screenshot(targets["laptop", "conversation"])
    bob.screenshot(targets["phone", "conversation"])

    alice.chat.open_safety_number()
    alice.screenshot(targets["laptop", "safety"])
    alice.chat.safety.close()
    bob.chat.open_safety_number()
    bob.screenshot(targets["phone", "safety"])
    bob.chat.safety.close()

    bob.chat.back_to_list()
    bob.screenshot(targets["phone", "conversations"])
    alice.chat.open()  # a fresh start: the list, no conversation open
    expect(alice.chat.friend("carol")).to_be_visible()
    alice.screenshot(targets["laptop", "conversations"])

    pixels = {"laptop": (1280, 800), "phone": (390 * 2, 844 * 2)}  # the phone has 2 device pixels per CSS pixel
    for (form, view), path in targets.items():
        assert path.exists(), f"{path.name} was not written"
        assert png_size(path) == pixels[form], path.name
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"
