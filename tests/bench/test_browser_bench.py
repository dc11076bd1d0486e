"""bench/browser.py in its tiny mode: the app's own modules run in chromium and yield every figure.

Not a timed test: it asserts that each figure is there and positive and that the message
is the size the server benchmarks send, never how fast anything is. Without chromium it
skips, which tests/conftest.py turns into a failure when CI=true.
"""
import pytest

from bench import browser, report


@pytest.fixture(scope="module")
def figures():
    reason = browser.unavailable()
    if reason:
        pytest.skip(reason)
    return browser.run(browser.TINY)


def test_tiny_browser_figures_are_present_and_positive(figures):
    tiny = browser.TINY
    assert figures["chromium"].split(".")[0].isdigit(), figures["chromium"]
    assert "Chrome" in figures["user_agent"]

    for login in (figures["login_kdf"], figures["login_flow"]):
        assert login["iterations"] == tiny.iterations
        assert login["ms"] > 0 and 1 <= len(login["runs_ms"]) <= tiny.derivations

    message = figures["message"]
    assert message["ops"] == tiny.ops and 1 <= message["rounds"] <= tiny.op_rounds
    assert message["seal_us"] > 0 and message["open_us"] > 0
    assert message["padded_bytes"] == 448 and message["plaintext_bytes"] == 447

    attachment = figures["attachment"]
    assert attachment["bytes"] == tiny.file_bytes and 1 <= attachment["rounds"] <= tiny.file_rounds
    assert attachment["encrypt_mb_per_s"] > 0 and attachment["decrypt_mb_per_s"] > 0


def test_browser_table_names_chromium_and_every_figure(figures):
    text = report.browser_table(figures)
    assert f"Chromium {figures['chromium']}" in text
    assert "PBKDF2 1,000 iterations" in text and "(256 KiB)" in text
    assert len(text.splitlines()) == 2 + len(report.BROWSER_ROWS)
