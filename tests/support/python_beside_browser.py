"""The Python client acting beside a Playwright test, in a thread of its own (Playwright's
sync API owns the test thread's event loop). Bounded in time."""
import asyncio
import threading

from sendapp.client import Account, HttpApi, RealtimeClient
from support.live_server import TEST_KDF_ITERATIONS


def as_python_client(server, username, password, act):
    """Run `act(account, live)` as `username`; answers what it returned."""
    result, failure = [], []

    async def main():
        account = Account.login(HttpApi(server.url, ca=str(server.cert_path)), username,
                                password, min_iterations=TEST_KDF_ITERATIONS)
        async with RealtimeClient(account) as live:
            result.append(await act(account, live))

    def run():
        try:
            asyncio.run(asyncio.wait_for(main(), 60))
        except BaseException as error:  # reported below
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(90)
    assert not thread.is_alive() and not failure, failure
    return result[0]


def send_from_python(server, username, password, friend_id, text):
    """Send one text as `username`; answers its id."""
    async def send(_account, live):
        return (await live.send_text(friend_id, text, timeout=20))["id"]

    return as_python_client(server, username, password, send)
