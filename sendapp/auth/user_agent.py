"""A short, coarse name for the browser of a login ("Firefox on Android").

Only this summary is stored with a session (for "My devices"), never the raw User-Agent:
the full header would fingerprint the device far more than the list needs.
"""
import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

MAX_SUMMARY_CHARS = 64
PYTHON_CLIENT = "SendApp Python client"
# First match wins: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(OPR|Opera)/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(Firefox|FxiOS)/")),
    ("Chromium", re.compile(r"\bChromium/")),
    ("Chrome", re.compile(r"\b(HeadlessChrome|Chrome|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
    (PYTHON_CLIENT, re.compile(r"^sendapp-python-client/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


def summarise(user_agent):
    """A short, coarse name for a User-Agent ("Firefox on Android"); None when unknown."""
    if not user_agent:
        return None
    text = user_agent[:512]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), None)
    if browser and system:
        summary = f"{browser} on {system}"
    else:
        summary = browser or system
    return summary[:MAX_SUMMARY_CHARS] if summary else None


_TRANSLATED_NAMES = {PYTHON_CLIENT: _l("SendApp Python client")}  # the others are brands


def shown(summary):
    """A stored summary in the reader's language ("Firefox sur Android"): it is stored in
    English, once, and read by each of the user's devices in its own language."""
    if not summary:
        return summary
    browser, on, system = summary.partition(" on ")  # no name holds " on "
    if not on:
        return str(_TRANSLATED_NAMES.get(summary, summary))
    return _("%(browser)s on %(system)s", browser=_TRANSLATED_NAMES.get(browser, browser),
             system=system)
