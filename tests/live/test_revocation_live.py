"""Ending a session closes its sockets within a second, in the real server process(es).

python-socketio clients hold the sockets; the admin commands run as a separate
`flask --app app users …` process against the server's database, as an operator would.
"""
import asyncio
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import socketio

from sendapp import crypto
from sendapp.client import Account, HttpApi
from support.live_server import ROOT, TEST_KDF_ITERATIONS
from support.redis_server import redis_server

PASSWORD = "correct horse battery staple"
WITHIN = 1.0  # seconds from the end of the action to the socket being closed
TEST_KDF_FLOOR = TEST_KDF_ITERATIONS
_names = iter(range(1, 10_000))


def unique(prefix):
    return f"{prefix}{next(_names)}"


def account(server, username=None, register=True):
    api = HttpApi(server.url, ca=str(server.cert_path))
    if register:
        return Account.register(api, username or unique("user"), PASSWORD, min_iterations=TEST_KDF_FLOOR)
    return Account.login(api, username, PASSWORD, min_iterations=TEST_KDF_FLOOR)


class Watched:
    """One raw Socket.IO connection of a session, noting when it was told and when it closed."""

    def __init__(self, server, api):
        self.server, self.api = server, api
        self.signed_out_at = None
        self.closed_at = None
        self.messages = []
        self.http = None
        self.sio = None

    async def open(self):
        context = ssl.create_default_context(cafile=str(self.server.cert_path))
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self.sio.on("signed_out", self._signed_out)
        self.sio.on("disconnect", self._closed)
        self.sio.on("message", lambda data: self.messages.append(data))
        await self.sio.connect(self.server.url, headers={"Cookie": self.api.cookie_header()},
                               wait_timeout=10)
        return self

    def _signed_out(self, data=None):
        self.signed_out_at = time.monotonic()

    def _closed(self, reason=None):
        self.closed_at = time.monotonic()

    async def closed_within(self, since, seconds=WITHIN):
        """Seconds from `since` to the close; fails after `seconds`."""
        while time.monotonic() - since < seconds + 0.5:
            if self.closed_at is not None:
                break
            await asyncio.sleep(0.02)
        assert self.closed_at is not None, "the socket is still open"
        took = self.closed_at - since
        assert took <= seconds, f"closed after {took:.2f}s"
        return took

    async def close(self):
        if self.sio is not None and self.sio.connected:
            await self.sio.disconnect()
        if self.http is not None:
            await self.http.close()


def run(coroutine, timeout=60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def flask_cli(server, *args, stdin=None):
    """`flask --app app …` as its own process with the server's settings; its exit time."""
    done = subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "app", *args],
                          cwd=ROOT, env=dict(server.env), input=stdin, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic()


ACTIONS = {
    "disable": lambda server, name: flask_cli(server, "users", "disable", name),
    "reset-password": lambda server, name: flask_cli(
        server, "users", "reset-password", name, "--password-stdin", stdin="a brand new password\n"),
    "delete": lambda server, name: flask_cli(server, "users", "delete", name, "--yes"),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_admin_command_in_another_process_closes_every_socket_within_a_second(start_live_server, action):
    server = start_live_server()
    alice = account(server)
    second_device = account(server, alice.username, register=False)
    bob = account(server)

    async def scenario():
        sockets = [await Watched(server, a.api).open() for a in (alice, second_device)]
        bystander = await Watched(server, bob.api).open()
        try:
            done = ACTIONS[action](server, alice.username)
            for sock in sockets:
                await sock.closed_within(done)
                assert sock.signed_out_at is not None and sock.signed_out_at <= sock.closed_at
            await asyncio.sleep(0.6)  # a full check later, the other user is still connected
            assert bystander.closed_at is None and bystander.sio.connected
        finally:
            for sock in [*sockets, bystander]:
                await sock.close()

    run(scenario())
    with pytest.raises(Exception):
        alice.api.me()


def test_password_change_closes_the_other_devices_socket_at_once(start_live_server):
    server = start_live_server()
    alice = account(server)
    other = account(server, alice.username, register=False)
    old = crypto.derive_account_secrets(alice.username, PASSWORD, TEST_KDF_FLOOR)
    new = crypto.derive_account_secrets(alice.username, "a changed password", TEST_KDF_FLOOR)
    entries = [crypto.vault_entry(p.private, p.public, p.created) for p in alice.key_pairs.values()]
    vault = crypto.encrypt_vault(new.vault_key, alice.username, entries)

    async def scenario():
        theirs, mine = await Watched(server, other.api).open(), await Watched(server, alice.api).open()
        try:
            alice.api.put_vault(old.auth, vault, new_auth=new.auth)
            await theirs.closed_within(time.monotonic())
            await asyncio.sleep(0.6)
            assert mine.closed_at is None and mine.sio.connected  # the caller's session stays
        finally:
            await theirs.close()
            await mine.close()

    run(scenario())


def test_logout_closes_the_sessions_socket(start_live_server):
    server = start_live_server()
    alice = account(server)

    async def scenario():
        sock = await Watched(server, alice.api).open()
        try:
            alice.api.logout()
            await sock.closed_within(time.monotonic())
        finally:
            await sock.close()

    run(scenario())


def test_idle_session_expires_and_its_socket_closes(start_live_server):
    server = start_live_server({"SENDAPP_SESSION_IDLE": "2"})
    alice = account(server)

    async def scenario():
        sock = await Watched(server, alice.api).open()
        opened = time.monotonic()
        try:
            await sock.closed_within(opened, seconds=2 + WITHIN + 0.5)
            assert sock.closed_at - opened > 1.0  # not before the session could have ended
        finally:
            await sock.close()

    run(scenario())
    with pytest.raises(Exception):
        alice.api.me()


# --- several server processes on one database ------------------------------------------------------
@pytest.mark.parametrize("queue", [False, True], ids=["no-queue", "message-queue"])
def test_cli_reaches_sockets_on_every_server_process(start_live_server, tmp_path, queue):
    shared = {"SENDAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
              "SENDAPP_SECRET_KEY": "shared-secret-for-two-processes"}
    redis_process = None
    if queue:
        redis_process, shared["SENDAPP_MESSAGE_QUEUE"] = redis_server(tmp_path)
    try:
        servers = [start_live_server(shared), start_live_server(shared)]
        alice = account(servers[0])
        on_second = account(servers[1], alice.username, register=False)

        async def scenario():
            sockets = [await Watched(servers[0], alice.api).open(),
                       await Watched(servers[1], on_second.api).open()]
            try:
                done = flask_cli(servers[0], "users", "disable", alice.username)
                for sock in sockets:
                    await sock.closed_within(done)
            finally:
                for sock in sockets:
                    await sock.close()

        run(scenario())
        for server in servers:
            server.stop()
    finally:
        if redis_process is not None:
            redis_process.kill()
            redis_process.wait(5)
