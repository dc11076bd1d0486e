"""Accessibility basics in both colour schemes and both form factors: labels and AA contrast."""
import pytest
from playwright.sync_api import expect

from browser.a11y import audit

pytestmark = pytest.mark.timeout(180)
PASSWORD = "accessible password 1"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_have_labelled_controls_and_aa_contrast(devices, scheme):
    alice = devices(f"alice-{scheme}", "laptop", color_scheme=scheme)
    bob = devices(f"bob-{scheme}", "phone", color_scheme=scheme)
    alice.login.open()
    assert audit(alice.page) == [], "login page"
    bob.register.open()
    assert audit(bob.page) == [], "register page"

    alice.register.create_account(f"alice{scheme}", PASSWORD)
    bob.register.create_account(f"bob{scheme}", PASSWORD)
    alice.chat.search_and_request(f"bob{scheme}")
    bob.chat.accept_request(f"alice{scheme}")
    alice.chat.open_conversation(f"bob{scheme}")
    alice.chat.send_text("Is this readable in every theme?")
    bob.chat.open_conversation(f"alice{scheme}")
    bob.chat.wait_for_message("Is this readable in every theme?")
    bob.chat.send_text("Yes, and labelled too.")
    alice.chat.wait_for_message("Yes, and labelled too.")
    for device in (alice, bob):
        assert audit(device.page) == [], f"chat page of {device.name}"
    alice.chat.open_safety_number()
    assert audit(alice.page) == [], "safety number dialog"
    alice.chat.press("Escape")  # Escape closes panels
    expect(alice.chat.safety.root).to_be_hidden()


def test_keyboard_enter_sends_and_shift_enter_adds_a_line(devices):
    dora, erin = devices("dora-keys", "laptop"), devices("erin-keys", "laptop")
    dora.register.create_account("dorakeys", PASSWORD)
    erin.register.create_account("erinkeys", PASSWORD)
    dora.chat.search_and_request("erinkeys")
    erin.chat.accept_request("dorakeys")
    dora.chat.open_conversation("erinkeys")
    dora.chat.composer.click()
    dora.chat.composer.type("first line")
    dora.chat.press("Shift+Enter")
    dora.chat.composer.type("second line")
    expect(dora.chat.composer).to_have_value("first line\nsecond line")  # not sent yet
    dora.chat.press("Enter")
    expect(dora.chat.composer).to_have_value("")
    erin.chat.open_conversation("dorakeys")
    erin.chat.wait_for_message("first line\nsecond line")


def test_the_audit_catches_a_nameless_button_and_faint_text(devices):
    """The audit itself can fail: a planted unlabelled button and grey-on-white text are found."""
    carol = devices("carol-audit", "laptop", color_scheme="light")
    carol.login.open()
    carol.page.evaluate("""() => {
        const button = document.createElement('button');
        button.dataset.testid = 'planted-button';
        const faint = document.createElement('p');
        faint.dataset.testid = 'planted-text';
        faint.textContent = 'barely there';
        Object.assign(faint.style, {color: '#bbbbbb', background: '#ffffff'});
        document.body.append(button, faint);
    }""")
    problems = audit(carol.page)
    assert any("no accessible name: button[planted-button]" in p for p in problems), problems
    assert any(p.startswith("contrast") and "planted-text" in p for p in problems), problems
