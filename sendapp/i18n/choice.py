"""Which language a request gets: the device's own choice (a cookie the language switch sets),
else the browser's languages (Accept-Language, the header form of navigator.languages).

A Socket.IO event runs without a request context (sendapp/realtime.py, for speed), so each
socket's language is chosen once, from its handshake at connect, and kept here by sid; an event
names its socket in `g` and only a sentence that is actually translated looks it up."""
from flask import g, has_app_context, has_request_context, request

from . import LANGUAGES, SOURCE_LANGUAGE

COOKIE = "sendapp_lang"
_SOCKET_SID = "sendapp_socket_sid"
_socket_languages = {}  # sid → language, for this process's sockets


def device_choice():
    """The language this device chose in the switch, or None (follow the browser)."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else None


def choose_language():
    """Flask-Babel's locale selector: the request's language, in a socket event its socket's,
    outside both (the CLI, background tasks) the source language."""
    if has_request_context():
        return device_choice() or request.accept_languages.best_match(LANGUAGES,
                                                                      default=SOURCE_LANGUAGE)
    if has_app_context():
        return _socket_languages.get(g.get(_SOCKET_SID), SOURCE_LANGUAGE)
    return SOURCE_LANGUAGE


def remember_socket_language(sid):
    """At connect (the handshake's request context): keep this socket's language."""
    _socket_languages[sid] = choose_language()


def forget_socket_language(sid):
    _socket_languages.pop(sid, None)


def speak_as_socket(sid):
    """In a socket event's app context: sentences are translated into this socket's language."""
    setattr(g, _SOCKET_SID, sid)
