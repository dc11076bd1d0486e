"""Python-client accounts and live clients on a real server process, for tests/live.

Every wait is bounded; asyncio runs inside plain test functions through `run`.
"""
import asyncio
import itertools
import os

from sendapp.client import Account, HttpApi, RealtimeClient
from support.live_server import TEST_KDF_ITERATIONS

PASSWORD = "correct horse battery staple"
WAIT = 20  # seconds any single expected event may take
_names = itertools.count(1)


def run(coroutine, timeout=120):
    """Run a coroutine from a sync test with an overall bound."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def unique(prefix):
    return f"{prefix}{os.getpid() % 10000}x{next(_names)}"


def register(server, prefix):
    """A new account on `server`, logged in (its client accepts the test server's fast KDF)."""
    return Account.register(HttpApi(server.url, ca=str(server.cert_path)), unique(prefix),
                            PASSWORD, min_iterations=TEST_KDF_ITERATIONS)


def login(server, username):
    """Another device of an account: a new session, nothing cached."""
    return Account.login(HttpApi(server.url, ca=str(server.cert_path)), username, PASSWORD,
                         min_iterations=TEST_KDF_ITERATIONS)


def befriend(a, b):
    assert a.api.request_friend(b.username) == {"status": "requested"}
    assert b.api.accept_friend(a.id)["id"] == a.id


def live(account, **options):
    """A RealtimeClient that reconnects quickly."""
    options.setdefault("reconnection_delay", 0.2)
    options.setdefault("reconnection_delay_max", 1.0)
    return RealtimeClient(account, **options)


async def receive(client, count, timeout=WAIT, where=lambda m: True):
    """The next `count` delivered messages that match `where`, each within `timeout`."""
    got = []
    while len(got) < count:
        message = await client.next_message(timeout)
        if where(message):
            got.append(message)
    return got


async def quiet(client, seconds=1.0):
    """Messages delivered in the next `seconds` (expected: none)."""
    extra = []
    try:
        while True:
            extra.append(await client.next_message(seconds))
    except asyncio.TimeoutError:
        return extra
