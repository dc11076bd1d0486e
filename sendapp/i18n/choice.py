"""Which language a request gets: the device's own choice (a cookie the language switch sets),
else the browser's languages (Accept-Language, the header form of navigator.languages).
A Socket.IO event has no request of its own: it speaks the language its socket's connect
request chose, so a refusal in an ack reads like the page around it."""
from flask import g, has_app_context, has_request_context, request

from . import LANGUAGES, SOURCE_LANGUAGE

COOKIE = "sendapp_lang"
_SOCKETS = {}  # sid → the language of its connect request (this process's sockets)


def device_choice():
    """The language this device chose in the switch, or None (follow the browser)."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else None


def choose_language():
    """Flask-Babel's locale selector; outside a request or event (the CLI) the source language."""
    if has_request_context():
        return device_choice() or request.accept_languages.best_match(LANGUAGES, default=SOURCE_LANGUAGE)
    if has_app_context() and "socket_sid" in g:
        return _SOCKETS.get(g.socket_sid, SOURCE_LANGUAGE)
    return SOURCE_LANGUAGE


def remember_socket(sid):
    """At connect (a request): the language this socket's events answer in."""
    _SOCKETS[sid] = choose_language()


def forget_socket(sid):
    _SOCKETS.pop(sid, None)


def answer_as_socket(sid):
    """In an event's app context: answer in the language of socket `sid`."""
    g.socket_sid = sid
