"""Fixtures for tests/browser: Debian's chromium driven by Playwright against the real server.

`browser` is one chromium for the whole session; `server` is one `python app.py` per test
module; `devices` opens each person's device as a NEW browser context (a fresh profile:
its own cookies, IndexedDB and service worker), closed when the module ends.
"""
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from support.live_server import ROOT, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
    # Else the service worker does not register over the self-signed certificate.
    "--ignore-certificate-errors",
]
EXPECT_TIMEOUT_MS = 15_000
ACTION_TIMEOUT_MS = 15_000
# Each person's device: a viewport, and for a phone its pixel density and touch.
FORMS = {
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True},
}
LOG_TAIL_CHARS = 6000
FAILURE_SHOTS = Path(tempfile.gettempdir()) / "sendapp-browser-failures"


@pytest.fixture(scope="session")
def browser():
    """One headless chromium (Debian's, never a downloaded one) for the whole session."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (make browser)")
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    yield chromium
    try:
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """The real server for this module (eventlet, TLS, KDF 1000 iterations, no rate limit).

    A module may set `SERVER_ENV = {...}` for extra SENDAPP_* settings.
    """
    live = LiveServer(tmp_path_factory.mktemp("browser"), env=getattr(request.module, "SERVER_ENV", None))
    request.addfinalizer(live.stop)  # SIGTERM by pid, SIGKILL if it lingers
    return live.start()


@pytest.fixture(scope="module")
def devices(browser, server):
    """Open a person's device: `devices(name, form="laptop"|"phone", locale="en-US")` → pages.Device
    (a new context). `locale` sets the browser's languages (navigator.languages, Accept-Language)."""
    from browser.pages import TEST_KDF_FLOOR, Device, lower_kdf_floor  # imports Playwright

    opened = []

    def open_device(name, form="laptop", kdf_floor=TEST_KDF_FLOOR, locale="en-US", **options):
        context = browser.new_context(
            ignore_https_errors=True, locale=locale, timezone_id="UTC", **FORMS[form], **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        if kdf_floor is not None:
            lower_kdf_floor(context, kdf_floor)
        device = Device(name, context, server.url)
        opened.append(device)
        return device

    open_device.opened = opened
    yield open_device
    for device in opened:
        device.close()


@pytest.fixture(autouse=True)
def no_page_errors(request):
    """No device may report an uncaught script error or an alert/confirm dialog during a test."""
    opener = request.getfixturevalue("devices")
    before = {id(d): (len(d.page_errors), len(d.dialogs)) for d in opener.opened}
    yield
    for device in opener.opened:
        errors, dialogs = before.get(id(device), (0, 0))
        assert device.page_errors[errors:] == [], f"{device.name}: uncaught errors in the page"
        assert device.dialogs[dialogs:] == [], f"{device.name}: a dialog opened"


@pytest.fixture
def admin_cli(server):
    """Run `flask --app app …` against the module's server (its instance folder and database)."""

    def run(*args, stdin=None):
        env = dict(server.env)
        result = subprocess.run(
            [str(Path(sys.executable).with_name("flask")), "--app", "app", *args], cwd=ROOT, env=env,
            input=stdin, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"flask {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        return result.stdout

    return run


def png_bytes(width, height, pixel):
    """A valid RGB PNG (no dependency): `pixel(x, y)` answers an (r, g, b) tuple."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def make_png():
    """Make a PNG: `make_png(width, height, pixel=None)`; the default is a soft diagonal gradient."""

    def make(width, height, pixel=None):
        def gradient(x, y):
            return (40 + 180 * x // max(1, width - 1), 90 + 120 * y // max(1, height - 1), 200 - 120 * x // max(1, width - 1))

        return png_bytes(width, height, pixel or gradient)

    return make


# --- diagnostics on failure -------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, add the server's log tail and each open device's console to the report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when == "teardown":
        return
    live = item.funcargs.get("server")
    if isinstance(live, LiveServer):
        report.sections.append(("server log (tail)", live.log_text()[-LOG_TAIL_CHARS:]))
    opener = item.funcargs.get("devices")
    for device in getattr(opener, "opened", []):
        report.sections.append((f"browser console: {device.name}", device.diagnostics()[-LOG_TAIL_CHARS:]))
        shot = device.snapshot(FAILURE_SHOTS / f"{item.name}-{device.name}.png")
        if shot:
            report.sections.append((f"screenshot: {device.name}", str(shot)))
