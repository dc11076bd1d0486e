"""People on the real server process for raw python-socketio tests: one account, many devices.

Each device is its own requests.Session (its own login session and cookie); the person keeps
the keys, so `support.messages.text_envelope` seals envelopes for them exactly as a client would.
"""
from dataclasses import dataclass, field

import socketio

from support.people import login_body, registration_body

TIMEOUT = 10  # seconds for one HTTP request or Socket.IO connect


@dataclass
class LivePerson:
    """An account on a live server with its keys and one requests.Session per device."""

    username: str
    id: int = 0
    private_key: bytes = b""
    public_key: bytes = b""
    key_id: str = ""
    devices: list = field(default_factory=list)


def _session_with_csrf(server):
    session = server.http_session()
    token = session.get(server.url + "/api/csrf", timeout=TIMEOUT).json()["csrf_token"]
    session.headers["X-CSRFToken"] = token
    return session


def register_live(server, username):
    """Register through the API; the registering session is the person's first device."""
    from sendapp import crypto

    session = _session_with_csrf(server)
    body, private, public = registration_body(username)
    answer = session.post(server.url + "/api/register", json=body, timeout=TIMEOUT)
    assert answer.status_code == 201, answer.text
    data = answer.json()
    session.headers["X-CSRFToken"] = data["csrf_token"]
    return LivePerson(username, data["user"]["id"], private, public, crypto.key_id(public),
                      [session])


def add_device(server, person):
    """Log the person in again from a new cookie jar (another device, another session)."""
    session = _session_with_csrf(server)
    answer = session.post(server.url + "/api/login", json=login_body(person.username),
                          timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    session.headers["X-CSRFToken"] = answer.json()["csrf_token"]
    person.devices.append(session)
    return session


def befriend_live(server, a, b):
    """a asks, b accepts, each from their first device."""
    asked = a.devices[0].post(server.url + "/api/friends", json={"username": b.username},
                              timeout=TIMEOUT)
    assert asked.status_code == 201, asked.text
    accepted = b.devices[0].post(server.url + f"/api/friends/{a.id}/accept", timeout=TIMEOUT)
    assert accepted.status_code == 200, accepted.text


def connect_socket(server, session, on_message=None, events=None):
    """A python-socketio client on the device's session (long-polling: the sync client's
    WebSocket transport needs websocket-client, which is not installed).

    :param events: more server → client handlers by event name, set before connecting.
    """
    client = socketio.Client(http_session=session, reconnection=False)
    if on_message is not None:
        client.on("message", on_message)
    for name, handler in (events or {}).items():
        client.on(name, handler)
    client.connect(server.url, transports=["polling"], wait_timeout=TIMEOUT)
    return client
