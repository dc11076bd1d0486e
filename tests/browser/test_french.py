"""SendApp in French, in the real browser: a device whose browser speaks French (locale fr-FR,
hence Accept-Language and navigator.languages) gets every screen in French, found by role and
accessible name as a person using a screen reader would find it.

What the page should say is read from the French catalogues (tests/browser/catalogue.py), so a
sentence missing from them fails here; a few literal French words check the catalogues say
French at all. On every screen visited no English sentence that has a different French
translation may show (text, labels, titles, placeholders), and no string may read as English.

The scenarios share one server and two French accounts and run in file order; each one can also
run alone (`-k`): missing steps are done first.
"""
import re

import pytest
from playwright.sync_api import expect

from browser.catalogue import english_leftovers, looks_english, say, say_count

pytestmark = pytest.mark.timeout(300)

FRENCH = "fr-FR"
PASSWORD = "mot de passe très secret 1"
NEW_PASSWORD = "mot de passe remis à zéro 2"
HELLO = "Bonjour Bruno ! On se voit demain ?"
REPLY = "Avec plaisir, à demain."


def fr(sentence, **params):
    return say("fr", sentence, **params)


def literal(pattern):
    """A literal French text as a pattern searched in a name or text (either apostrophe)."""
    return re.compile(pattern.replace("'", "['’]"))


def expect_french_page(device, *content):
    """The page is French: <html lang="fr">, and nothing shown or named reads as English.

    :param content: what people wrote (names, messages), which is not the app's to translate
    """
    expect(device.page.locator("html")).to_have_attribute("lang", "fr")
    shown = [text for text in device.shown_text() if text not in content]
    leftovers = english_leftovers("fr", shown)
    assert leftovers == [], f"{device.name}: English left on {device.page.url}: {leftovers}"
    english = [text for text in shown if looks_english(text)]
    assert english == [], f"{device.name}: untranslated text on {device.page.url}: {english}"


def register_in_french(device, username, password):
    """Create an account on the French register page, by its French labels."""
    page = device.page
    page.goto(f"{device.chat.base_url}/register")
    expect(page.get_by_label(fr("Username"))).to_be_visible()
    expect(page.get_by_label(literal("^Nom d'utilisateur$"))).to_be_visible()
    expect(page.get_by_role("button", name=fr("Create account"))).to_be_visible()
    expect(page.get_by_role("button", name=literal("^Créer"))).to_be_visible()
    expect(page.get_by_role("link", name=fr("Log in"))).to_be_visible()
    expect(page.get_by_text(fr("At least 8 characters. It cannot be recovered: keep it safe."))).to_be_visible()
    expect_french_page(device)
    page.get_by_label(fr("Username")).fill(username)
    page.get_by_label(fr("Password"), exact=True).fill(password)
    page.get_by_label(fr("Repeat the password")).fill(password)
    page.get_by_role("button", name=fr("Create account")).click()
    page.wait_for_url(f"{device.chat.base_url}/")
    device.chat.wait_connected()


def log_in_in_french(device, username, password):
    """Log in on the French login page, by its French labels."""
    page = device.page
    page.goto(f"{device.chat.base_url}/login")
    expect(page.get_by_label(literal("^Mot de passe$"))).to_be_visible()
    expect(page.get_by_role("link", name=fr("Create an account"))).to_be_visible()
    expect_french_page(device)
    page.get_by_label(fr("Username")).fill(username)
    page.get_by_label(fr("Password"), exact=True).fill(password)
    page.get_by_role("button", name=fr("Log in")).click()
    page.wait_for_url(f"{device.chat.base_url}/")
    device.chat.wait_connected()


class World:
    """Amélie on a laptop and Bruno on a phone, both with French browsers."""

    def __init__(self, devices):
        self.devices = devices
        self.amelie = devices("amelie", locale=FRENCH)
        self.bruno = devices("bruno", "phone", locale=FRENCH)
        self.passwords = {"amelie": PASSWORD, "bruno": PASSWORD}
        self.registered = self.friends = self.reset_done = False

    def ensure_registered(self):
        if not self.registered:
            register_in_french(self.amelie, "amelie", PASSWORD)
            register_in_french(self.bruno, "bruno", PASSWORD)
            self.registered = True

    def ensure_friends(self):
        self.ensure_registered()
        if not self.friends:
            self.amelie.chat.search_and_request("bruno")
            self.bruno.chat.accept_request("amelie")
            self.friends = True

    def ensure_talking(self):
        self.ensure_friends()
        for device, peer in ((self.amelie, "bruno"), (self.bruno, "amelie")):
            if not device.chat.is_open(peer):
                device.chat.open_conversation(peer)


@pytest.fixture(scope="module")
def world(devices):
    return World(devices)


def test_two_people_register_in_french(world):
    world.ensure_registered()
    for device in (world.amelie, world.bruno):
        page = device.page
        expect(page.get_by_role("button", name=fr("Log out"))).to_be_visible()
        expect(page.get_by_role("button", name=literal("^Se déconnecter$"))).to_be_visible()
        expect(page.get_by_role("searchbox", name=fr("Search friends or find people to add"))).to_be_visible()
        expect(page.get_by_text(fr("No friends yet."))).to_be_visible()
        expect(device.chat.connection).to_contain_text(fr("Connected"))
        expect_french_page(device, device.name)


def test_a_friend_request_is_sent_and_accepted_in_french(world):
    world.ensure_registered()
    amelie, bruno = world.amelie, world.bruno
    amelie.page.get_by_role("searchbox", name=fr("Search friends or find people to add")).fill("bruno")
    add = amelie.page.get_by_role("button", name=fr("Send a friend request to {name}", name="bruno"))
    expect(add).to_be_visible()
    expect_french_page(amelie, "amelie", "bruno")
    add.click()
    expect(amelie.chat.outgoing_request("bruno")).to_have_count(1)
    amelie.page.get_by_role("button", name=fr("Clear search")).click()
    expect(amelie.page.get_by_role("heading", name=fr("Sent requests"))).to_be_visible()
    expect(amelie.page.get_by_role("button", name=fr("Cancel your friend request to {name}", name="bruno"))).to_be_visible()
    expect_french_page(amelie, "amelie", "bruno")

    expect(bruno.page.get_by_role("heading", name=fr("Requests for you"))).to_be_visible()
    expect(bruno.page.get_by_role("button", name=fr("Decline the friend request from {name}", name="amelie"))).to_be_visible()
    accept = bruno.page.get_by_role("button", name=fr("Accept the friend request from {name}", name="amelie"))
    expect(accept).to_have_accessible_name(literal("^Accepter"))
    expect_french_page(bruno, "amelie", "bruno")
    accept.click()
    expect(bruno.chat.friend("amelie")).to_be_visible()
    expect(amelie.chat.friend("bruno")).to_be_visible()
    world.friends = True
    for device in (amelie, bruno):
        device.chat.dismiss_toasts()
        expect_french_page(device, "amelie", "bruno")


def test_a_message_is_sent_and_received_under_a_french_day_label(world):
    world.ensure_talking()
    amelie, bruno = world.amelie, world.bruno
    expect(amelie.chat.peer_status).to_have_text(fr("online"))
    composer = amelie.page.get_by_role("textbox", name=fr("Message"))
    composer.fill(HELLO)
    send = amelie.page.get_by_role("button", name=fr("Send"))
    expect(send).to_have_accessible_name(literal("^Envoyer$"))
    send.click()
    cid = bruno.chat.wait_for_message(HELLO)
    bruno.page.get_by_role("textbox", name=fr("Message")).fill(REPLY)
    bruno.page.get_by_role("button", name=fr("Send")).click()
    amelie.chat.wait_for_message(REPLY)
    amelie.chat.expect_status(cid, "read")
    for device in (amelie, bruno):
        day = device.chat.day_separators().first
        expect(day).to_have_text(fr("Today"))
        expect(day).to_have_text(literal("^Aujourd'hui$"))
        device.chat.dismiss_toasts()
        expect_french_page(device, "amelie", "bruno", HELLO, REPLY)


def test_the_unread_count_is_said_in_french_singular_then_plural(world):
    world.ensure_friends()
    amelie, bruno = world.amelie, world.bruno
    amelie.chat.open()  # the list, no conversation open: what Bruno writes stays unread
    if not bruno.chat.is_open("amelie"):
        bruno.chat.open_conversation("amelie")
    row = amelie.chat.friend("bruno").get_by_role("button")
    for count, text in ((1, "Tu as vu mon message ?"), (2, "Je t'appelle ce soir.")):
        bruno.chat.send_text(text)
        expect(amelie.chat.unread("bruno")).to_have_text(str(count))
        unread = say_count("fr", "{count} unread message", "{count} unread messages", count)
        expect(row).to_have_accessible_name(re.compile(re.escape(unread)))
    expect(row).to_have_accessible_name(literal(r"\b2 messages non lus\b"))
    assert say_count("fr", "{count} unread message", "{count} unread messages", 1) == "1 message non lu"
    expect_french_page(amelie, "amelie", "bruno", "Je t'appelle ce soir.")


def test_the_safety_number_screen_is_french(world):
    world.ensure_talking()
    amelie = world.amelie
    page = amelie.page
    page.get_by_role("button", name=fr("Verify the safety number")).click()
    dialog = page.get_by_role("dialog", name=fr("Safety number with {name}", name="bruno"))
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name(literal("^Numéro de sécurité"))
    try:
        amelie.chat.safety.wait_ready()
        number = amelie.chat.safety.number()
        key_id = page.locator("body").get_attribute("data-key-id")
        expect(dialog.get_by_text(fr(
            "Compare these numbers with {name}, in person or on a call you trust. If they match on both devices, "
            "nobody is intercepting your messages.", name="bruno"))).to_be_visible()
        expect(amelie.chat.safety.digits).to_have_attribute("aria-label", fr("Safety number: {number}", number=number))
        expect(dialog.get_by_role("img", name=fr("QR code of the safety number with {name}", name="bruno"))).to_be_visible()
        expect(amelie.chat.safety.own_key).to_have_text(fr(
            "Your key id is {id}. It names the key your messages are sealed with, the same on every device you "
            "log in from. It changes only when your password is reset, and your friends are then warned.", id=key_id))
        expect(dialog.get_by_role("button", name=fr("Close"))).to_have_accessible_name(literal("^Fermer$"))
        expect_french_page(amelie, "amelie", "bruno", key_id, number)
    finally:  # a modal left open would stop the next scenarios
        amelie.chat.safety.close()


def ensure_reset(world, admin_cli):
    """Bruno's password is reset by the administrator; he logs in again in French: a new key."""
    if world.reset_done:
        return
    world.ensure_talking()
    admin_cli("users", "reset-password", "bruno", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    world.passwords["bruno"] = NEW_PASSWORD
    assert world.bruno.chat.reached_login(), "the reset should end Bruno's sessions"
    log_in_in_french(world.bruno, "bruno", NEW_PASSWORD)
    world.reset_done = True


def test_the_key_change_warning_and_accepting_the_new_key_are_french(world, admin_cli):
    ensure_reset(world, admin_cli)
    amelie = world.amelie
    page = amelie.page
    if not amelie.chat.is_open("bruno"):
        amelie.chat.open_conversation("bruno")
    warning = page.get_by_role("alert").filter(has=page.get_by_role("button", name=fr("Acknowledge")))
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(fr(
        "{name}’s security key has changed. This happens when they reset their account, but it could also mean "
        "someone is intercepting. Compare the new safety number with {name}, then accept the new key. Until then "
        "their messages under it are marked, and sending asks you first.", name="bruno"))
    expect(warning).to_contain_text(literal("clé de sécurité"))
    expect(warning.get_by_role("button", name=fr("Compare safety number"))).to_be_visible()
    expect(amelie.chat.friend("bruno").get_by_role("button")).to_have_accessible_name(
        re.compile(re.escape(fr("security key changed"))))
    expect_french_page(amelie, "amelie", "bruno")

    # Sending first asks, in French; cancelled, nothing is sent.
    amelie.chat.write_and_press_enter("Tu as changé de clé ?")
    ask = page.get_by_role("dialog", name=fr("{names}’s security key changed", names="bruno"))
    expect(ask).to_be_visible()
    expect(ask.get_by_role("button", name=fr("Send anyway"))).to_be_visible()
    expect_french_page(amelie, "amelie", "bruno", "Tu as changé de clé ?")
    ask.get_by_role("button", name=fr("Cancel")).click()
    expect(ask).to_be_hidden()

    warning.get_by_role("button", name=fr("Acknowledge")).click()
    accept = page.get_by_role("dialog", name=fr("Accept the new key"))
    expect(accept).to_be_visible()
    expect(accept).to_contain_text(fr(
        "Accept {name}’s new key on all your devices? Do this only after comparing the safety number with "
        "{name}. Your password unlocks your key vault, where the accepted keys are kept.", name="bruno"))
    expect_french_page(amelie, "amelie", "bruno", "Tu as changé de clé ?")
    accept.get_by_label(fr("Your password")).fill(world.passwords["amelie"])
    accept.get_by_role("button", name=fr("Accept key")).click()
    expect(accept).to_be_hidden()
    expect(warning).to_be_hidden()


def test_the_header_dialogs_and_the_offline_state_are_french(world):
    world.ensure_talking()
    amelie = world.amelie
    page = amelie.page
    for button, dialog_name in (("Your account", "Your account"), ("Notification settings", "Notifications"),
                                ("New group", "New group")):
        page.get_by_role("button", name=fr(button)).click()
        dialog = page.get_by_role("dialog", name=fr(dialog_name))
        expect(dialog).to_be_visible()
        try:
            expect_french_page(amelie, "amelie", "bruno")
        finally:
            page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

    amelie.context.set_offline(True)
    try:
        expect(amelie.chat.peer_status).to_have_text(fr("status unknown — reconnecting"))
        expect(amelie.chat.banner).to_be_visible()
        expect_french_page(amelie, "amelie", "bruno")
    finally:
        amelie.context.set_offline(False)
    amelie.chat.wait_connected()


def test_the_language_switch_makes_one_device_french_and_leaves_the_others(devices):
    chosen = devices("eve", locale="en-US")
    other = devices("frank", locale="en-US")
    page = chosen.page
    chosen.login.open()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Username")).to_be_visible()
    page.get_by_role("combobox", name="Language").select_option("fr")  # the switch reloads the page
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_label(fr("Username"))).to_be_visible()
    page.reload()
    expect(page.get_by_label(literal("^Nom d'utilisateur$"))).to_be_visible()
    expect(page.get_by_role("combobox", name=fr("Language"))).to_have_value("fr")
    expect_french_page(chosen)

    other.login.open()
    expect(other.page.locator("html")).to_have_attribute("lang", "en")
    expect(other.page.get_by_label("Username")).to_be_visible()
    expect(other.page.get_by_role("combobox", name="Language")).to_have_value("")

    # The choice holds in the app too, and the account dialog hands the device back to its browser.
    chosen.register.create_account("eve", PASSWORD)
    expect(page.get_by_role("button", name=fr("Log out"))).to_be_visible()
    expect_french_page(chosen, "eve")
    page.get_by_role("button", name=fr("Your account")).click()
    account = page.get_by_role("dialog", name=fr("Your account"))
    expect(account).to_be_visible()
    expect(account.get_by_role("combobox", name=fr("Language"))).to_have_value("fr")
    expect_french_page(chosen, "eve")
    account.get_by_role("combobox", name=fr("Language")).select_option("")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    chosen.chat.wait_connected()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
