"""Screenshots for the docs: the main views on a phone (390×844) and a laptop (1280×800).

Taken on every run (CI too) into a temporary folder; with SENDAPP_UPDATE_SCREENSHOTS=1
(`make screenshots`) they replace docs/screenshots/<viewport>-<view>.png, and the French ones
(browsers set to fr-FR) docs/screenshots/<viewport>-<view>-fr.png. A fresh server with fixed
names, a few messages and one picture keeps them stable between runs.
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
FRENCH_VIEWS = ("login", "conversation")
PASSWORD = "screenshots password 1"
PIXELS = {"laptop": (1280, 800), "phone": (390 * 2, 844 * 2)}  # the phone has 2 device pixels per CSS pixel
ENGLISH_CHAT = {
    "first": "Hi Bob! Back from the hike 🥾",
    "reply": "Welcome back! How was the weather? ☀️",
    "last": "Perfect. Same trail next Saturday?",
    "answer": "Count me in 👍",
    "other": "Are we still on for lunch tomorrow?",
}
FRENCH_CHAT = {
    "first": "Salut Louis ! De retour de la rando 🥾",
    "reply": "Bon retour ! Il faisait beau ? ☀️",
    "last": "Parfait. Le même sentier samedi prochain ?",
    "answer": "Je suis partant 👍",
    "other": "On déjeune toujours ensemble demain ?",
}


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


def shot_targets(tmp_path, views, suffix=""):
    """Where each (form, view) screenshot goes: docs/screenshots when updating, else tmp_path."""
    update_docs = os.environ.get("SENDAPP_UPDATE_SCREENSHOTS") == "1"
    shots = DOCS_SHOTS if update_docs else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    targets = {(form, view): shots / f"{form}-{view}{suffix}.png" for form in ("phone", "laptop") for view in views}
    for path in targets.values():
        path.unlink(missing_ok=True)
    return targets


def stage_conversation(laptop, phone, third, lines, make_png):
    """Three new friends: the laptop and the phone talk (with a picture), the third writes to
    the laptop and stays unread; the laptop and the phone are left in their conversation."""
    for device in (laptop, phone, third):
        device.register.create_account(device.name, PASSWORD)
    laptop.chat.search_and_request(phone.name)
    phone.chat.accept_request(laptop.name)
    third.chat.search_and_request(laptop.name)
    laptop.chat.accept_request(third.name)

    laptop.chat.open_conversation(phone.name)
    phone.chat.open_conversation(laptop.name)
    first = laptop.chat.send_text(lines["first"])
    expect(phone.chat.message_body(first)).to_be_visible()
    reply = phone.chat.send_text(lines["reply"])
    expect(laptop.chat.message_body(reply)).to_be_visible()
    picture = laptop.chat.attach_file("lake.png", "image/png", make_png(480, 320, scenery(480, 320)))
    phone.chat.expect_image_ready(picture)
    laptop.chat.expect_image_ready(picture)
    last = laptop.chat.send_text(lines["last"])
    phone.chat.expect_status(phone.chat.send_text(lines["answer"]), "read")
    laptop.chat.expect_status(last, "read")
    third.chat.open_conversation(laptop.name)
    third.chat.send_text(lines["other"])
    expect(laptop.chat.unread(third.name)).to_have_text("1")

    for device in (laptop, phone):
        device.chat.dismiss_toasts()


def check_shots(targets):
    for (form, view), path in targets.items():
        assert path.exists(), f"{path.name} was not written"
        assert png_size(path) == PIXELS[form], path.name
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"


def test_screenshots_of_the_main_views(devices, make_png, tmp_path):
    targets = shot_targets(tmp_path, VIEWS)
    alice = devices("alice", "laptop")
    bob = devices("bob", "phone")
    carol = devices("carol", "laptop")

    alice.login.open()
    alice.screenshot(targets["laptop", "login"])
    bob.login.open()
    bob.screenshot(targets["phone", "login"])

    stage_conversation(alice, bob, carol, ENGLISH_CHAT, make_png)
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
    check_shots(targets)


def test_french_screenshots_of_the_login_and_a_conversation(devices, make_png, tmp_path):
    targets = shot_targets(tmp_path, FRENCH_VIEWS, suffix="-fr")
    camille = devices("camille", "laptop", locale="fr-FR")
    louis = devices("louis", "phone", locale="fr-FR")
    chloe = devices("chloe", "laptop", locale="fr-FR")

    for device, form in ((camille, "laptop"), (louis, "phone")):
        device.login.open()
        expect(device.page.locator("html")).to_have_attribute("lang", "fr")
        device.screenshot(targets[form, "login"])

    stage_conversation(camille, louis, chloe, FRENCH_CHAT, make_png)
    camille.screenshot(targets["laptop", "conversation"])
    louis.screenshot(targets["phone", "conversation"])
    check_shots(targets)
