"""deploy/nginx.conf keeps a login session on one process by hashing part of its cookie.

Flask signs the session cookie again on every response (a new timestamp), so the shipped
`map` takes only the payload before the timestamp. These tests hold the server to what that
relies on: the payload stays the same for the life of a login session and changes with a
new login, and the shipped pattern itself (read from the file) finds it.
"""
import re
import time

import pytest

from support.people import https_client, login_body, register
from support.proxy import SHIPPED_CONFIG

COOKIE = "__Host-sendapp_session"


def shipped_pattern():
    """The regular expression of the `$sendapp_sticky` map, in Python's syntax."""
    text = SHIPPED_CONFIG.read_text()
    block = text[text.index("map $http_cookie $sendapp_sticky {"):]
    source = re.search(r'"~(.+?)"\s+\$sendapp_session_payload;', block).group(1)
    return re.compile(source.replace("(?<", "(?P<"))


def sticky_key(cookie_header):
    """What nginx hashes for this Cookie header (None: it falls back to the address)."""
    found = shipped_pattern().search(cookie_header)
    return found.group("sendapp_session_payload") if found else None


def cookie_value(client):
    return client.get_cookie(COOKIE).value


def test_the_key_stays_while_the_cookie_is_signed_again(app):
    alice = register(https_client(app), "alice")
    first = cookie_value(alice.client)
    key = sticky_key(f"{COOKIE}={first}")
    assert key
    time.sleep(1.1)  # itsdangerous timestamps count seconds
    for path in ("/api/me", "/api/friends", "/api/csrf", "/api/conversations"):
        answer = alice.get(path)
        assert answer.status_code == 200
        assert COOKIE in answer.headers.get("Set-Cookie", "")  # signed again on each answer
    later = cookie_value(alice.client)
    assert later != first  # a new timestamp and signature...
    assert sticky_key(f"{COOKIE}={later}") == key  # ...and the same payload


def test_a_new_login_gets_a_new_key(app):
    alice = register(https_client(app), "alice")
    other = https_client(app)
    csrf = other.get("/api/csrf").get_json()["csrf_token"]
    assert other.post("/api/login", json=login_body("alice"),
                      headers={"X-CSRFToken": csrf}).status_code == 200
    keys = {sticky_key(f"{COOKIE}={cookie_value(c)}") for c in (alice.client, other)}
    assert len(keys) == 2 and None not in keys


@pytest.mark.parametrize("header, expected", [
    (f"{COOKIE}=eyJhIjoxfQ.Zx1.sig", "eyJhIjoxfQ"),
    (f"{COOKIE}=.eJyrVkrLz1eyUjI0MlGqBQA.Zx1.sig", "eJyrVkrLz1eyUjI0MlGqBQA"),  # compressed
    (f"theme=dark; {COOKIE}=eyJhIjoxfQ.Zx1.sig; other=1", "eyJhIjoxfQ"),
    (f"theme=dark;{COOKIE}=eyJhIjoxfQ.Zx1.sig", "eyJhIjoxfQ"),
    (f"x{COOKIE}=eyJhIjoxfQ.Zx1.sig", None),  # another cookie's name ending the same
    ("theme=dark", None),
])
def test_the_shipped_pattern_finds_the_payload(header, expected):
    assert sticky_key(header) == expected
