"""Which language a request gets: the device's own choice (a cookie the language switch sets),
else the browser's languages (Accept-Language, the header form of navigator.languages)."""
from flask import has_request_context, request

from . import LANGUAGES, SOURCE_LANGUAGE

COOKIE = "sendapp_lang"


def device_choice():
    """The language this device chose in the switch, or None (follow the browser)."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else None


def choose_language():
    """Flask-Babel's locale selector; outside a request (the CLI) the source language."""
    if not has_request_context():
        return SOURCE_LANGUAGE
    return device_choice() or request.accept_languages.best_match(LANGUAGES, default=SOURCE_LANGUAGE)
