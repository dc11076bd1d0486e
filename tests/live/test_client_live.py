"""The Python client against the real server process (`python app.py`: eventlet, TLS).

Every wait is bounded; asyncio runs inside plain test functions through `run`.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sendapp import crypto
from sendapp.client import (
    Account,
    ApiFailure,
    HttpApi,
    KeyChangeError,
    RealtimeClient,
    RealtimeError,
    SendFailure,
)
from support import keyrows
from support.live_clients import (
    PASSWORD,
    WAIT,
    befriend,
    live,
    login,
    quiet,
    receive,
    register,
    run,
    unique,
)
from support.live_server import ROOT, LiveServer, TEST_KDF_ITERATIONS

TEST_KDF_FLOOR = TEST_KDF_ITERATIONS  # the client's default floor is 100,000
TRANSPORTS = ["websocket", "polling"]


# --- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for this module (users are unique per test); stopped by pid after."""
    live = LiveServer(tmp_path_factory.mktemp("client-live"))
    live.start()
    yield live
    live.stop()


def api_for(server):
    return HttpApi(server.url, ca=str(server.cert_path))


@pytest.fixture
def pair(server):
    """Two fresh friends, alice and bob."""
    alice, bob = register(server, "alice"), register(server, "bob")
    befriend(alice, bob)
    return alice, bob


def history(account, friend_id):
    """The whole conversation over HTTP, oldest first."""
    messages, before = [], None
    while True:
        page = account.api.history(friend_id, before=before, limit=200)
        messages[:0] = page["messages"]
        if not page["more"]:
            return messages
        before = page["messages"][0]["id"]


def from_them(friend_id):
    return lambda message: message.sender == friend_id


# --- exchange ------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_two_friends_exchange_messages_both_ways(pair, transport):
    alice, bob = pair

    async def scenario():
        polling = transport == "polling"
        async with live(alice, polling=polling) as a, live(bob, polling=polling) as b:
            assert a.transport == b.transport == transport
            ack = await a.send_text(bob.id, "hi bob ✓", timeout=WAIT)
            assert ack["ok"] and isinstance(ack["id"], int)
            [got] = await receive(b, 1, where=from_them(alice.id))
            assert (got.id, got.text, got.peer, got.mine) == (ack["id"], "hi bob ✓", alice.id,
                                                              False)
            [echo] = await receive(a, 1)  # the sending socket gets the relay too (§8)
            assert echo.id == ack["id"] and echo.mine and echo.text == "hi bob ✓"
            reply = await b.send_text(alice.id, "hello alice", timeout=WAIT)
            [got] = await receive(a, 1, where=from_them(bob.id))
            assert (got.id, got.text) == (reply["id"], "hello alice")
            [own] = await receive(b, 1)
            assert own.id == reply["id"] > ack["id"]
            assert a.cursor == b.cursor == reply["id"]

    run(scenario())
    texts = [bob.decrypt(m)["body"] for m in history(bob, alice.id)]
    assert texts == ["hi bob ✓", "hello alice"]


def test_repeated_cid_is_stored_once_and_acked_with_the_first_id(pair):
    alice, bob = pair

    async def scenario():
        async with live(alice) as a, live(bob) as b:
            envelope = alice.encrypt_text(bob.id, "only once")
            first = await a.send_envelope(dict(envelope), timeout=WAIT)
            second = await a.send_envelope(dict(envelope), timeout=WAIT)
            assert first["id"] == second["id"]
            tampered = alice.encrypt_text(bob.id, "other content", cid=envelope["cid"])
            with pytest.raises(SendFailure) as refused:
                await a.send_envelope(tampered, timeout=WAIT)
            assert refused.value.code == "conflict"
            got = await receive(b, 1)
            assert [m.text for m in got] == ["only once"]
            assert await quiet(b) == []  # the repeat was not relayed again
            return first["id"]

    message_id = run(scenario())
    stored = history(bob, alice.id)
    assert [m["id"] for m in stored] == [message_id]


# --- reconnection and sync -----------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reconnecting_client_receives_missed_messages_once_via_sync(pair, transport):
    alice, bob = pair

    async def scenario():
        polling = transport == "polling"
        b = live(bob, polling=polling, sync_limit=20)  # 50 missed messages span three pages
        async with live(alice, polling=polling) as a:
            await b.connect()
            await a.send_text(bob.id, "before", timeout=WAIT)
            [first] = await receive(b, 1)
            await b.disconnect()
            sent = [await a.send_text(bob.id, f"missed {i}", timeout=WAIT) for i in range(50)]
            await b.connect()  # sync runs before connect() returns
            got = await receive(b, 50, timeout=5)
            assert [m.id for m in got] == [ack["id"] for ack in sent]
            assert [m.text for m in got] == [f"missed {i}" for i in range(50)]
            assert b.cursor == sent[-1]["id"] and first.id < got[0].id
            after = await a.send_text(bob.id, "after", timeout=WAIT)
            [live_one] = await receive(b, 1)
            assert live_one.id == after["id"]
            assert await quiet(b) == []
            await b.disconnect()

    run(scenario())


def test_dropped_transport_reconnects_by_itself_and_catches_up(pair):
    alice, bob = pair

    async def scenario():
        async with live(alice) as a, live(bob) as b:
            assert b.transport == "websocket"
            reconnected = asyncio.Event()
            connects = []

            def on_event(name, data):
                if name == "connected":
                    connects.append(data)
                    reconnected.set()

            b.on_event = on_event
            await b.sio.eio.ws.close()  # the network drops; python-socketio reconnects
            sent = [await a.send_text(bob.id, f"during {i}", timeout=WAIT) for i in range(10)]
            await asyncio.wait_for(reconnected.wait(), WAIT)
            got = await receive(b, 10, where=from_them(alice.id))
            assert sorted(m.id for m in got) == [ack["id"] for ack in sent]
            assert await quiet(b) == []
            assert connects  # the connect hook ran again (sync + resend)

    run(scenario())


def test_clients_ride_out_a_server_restart(tmp_path):
    """Sockets reconnect by themselves; the outbox queued meanwhile is sent once after."""
    restarting = LiveServer(tmp_path)
    restarting.start()
    try:
        alice, bob = register(restarting, "alice"), register(restarting, "bob")
        befriend(alice, bob)

        async def scenario():
            async with live(alice) as a, live(bob, polling=True) as b:
                await a.send_text(bob.id, "before", timeout=WAIT)  # alice now has bob's key
                await receive(b, 1)
                await asyncio.to_thread(restarting.stop)
                cids = [await a.queue_text(bob.id, f"while down {i}") for i in range(5)]
                assert len(a.pending) == 5
                await asyncio.to_thread(restarting.start)
                acks = [await a.wait_acked(cid, timeout=WAIT) for cid in cids]
                got = await receive(b, 5, where=from_them(alice.id))
                assert [m.id for m in got] == [ack["id"] for ack in acks]
                assert [m.text for m in got] == [f"while down {i}" for i in range(5)]
                assert await quiet(b) == []

        run(scenario())
        assert len(history(bob, alice.id)) == 6
    finally:
        restarting.stop()


def test_message_sent_while_disconnected_waits_in_the_outbox(pair):
    alice, bob = pair

    async def scenario():
        async with live(bob) as b:
            a = live(alice)
            cid = await a.queue_text(bob.id, "queued offline")
            assert [e["cid"] for e in a.pending] == [cid]
            await a.connect()  # resends the outbox after its sync
            ack = await a.wait_acked(cid, timeout=WAIT)
            assert a.pending == []
            [got] = await receive(b, 1)
            assert (got.id, got.text) == (ack["id"], "queued offline")
            await a.disconnect()

    run(scenario())


def test_both_clients_of_one_user_receive_each_message(server, pair):
    alice, bob = pair
    bob_phone = login(server, bob.username)  # a second device: its own session
    alice_laptop = login(server, alice.username)

    async def scenario():
        async with live(alice) as a, live(bob) as b1, live(bob_phone, polling=True) as b2, \
                live(alice_laptop) as a2:
            sent = [await a.send_text(bob.id, f"to both {i}", timeout=WAIT) for i in range(5)]
            ids = [ack["id"] for ack in sent]
            for device in (b1, b2):
                got = await receive(device, 5)
                assert [m.id for m in got] == ids
                assert [m.text for m in got] == [f"to both {i}" for i in range(5)]
            mine = await receive(a2, 5)  # alice's other device sees what she sent
            assert [m.id for m in mine] == ids and all(m.mine for m in mine)
            reply = await b2.send_text(alice.id, "from the phone", timeout=WAIT)
            for device in (b1, b2):  # the phone itself gets the relay too
                [echo] = await receive(device, 1)
                assert echo.id == reply["id"] and echo.mine and echo.text == "from the phone"
            assert await quiet(b1, 0.5) == [] and await quiet(b2, 0.5) == []

    run(scenario())


def test_typing_and_read_markers_reach_the_friend(pair):
    alice, bob = pair

    async def scenario():
        events = asyncio.Queue()
        async with live(alice) as a, live(bob, on_event=lambda n, d: events.put_nowait((n, d))) \
                as b:
            await a.typing(bob.id, True)
            assert await next_event(events, "typing") == {"from": alice.id, "on": True}
            ack = await b.send_text(alice.id, "read me", timeout=WAIT)
            answer = await a.read(bob.id, ack["id"])
            assert answer["up_to"] == ack["id"]
            assert await next_event(events, "read") == {"from": alice.id, "to": bob.id, "up_to": ack["id"]}

    run(scenario())


async def next_event(events, name, timeout=WAIT):
    while True:
        event, data = await asyncio.wait_for(events.get(), timeout)
        if event == name:
            return data


def test_new_friendship_while_connected_joins_the_pair_room(server):
    alice, carol = register(server, "alice"), register(server, "carol")

    async def scenario():
        events = asyncio.Queue()
        async with live(alice) as a, live(carol, on_event=lambda n, d: events.put_nowait(
                (n, d))) as c:
            await asyncio.to_thread(befriend, alice, carol)
            await next_event(events, "friends")
            # Sent while carol's client may still be joining: live or by the sync after
            # the join, it arrives exactly once.
            first = await a.send_text(carol.id, "welcome", timeout=WAIT)
            [got] = await receive(c, 1)
            assert (got.id, got.text) == (first["id"], "welcome")
            second = await a.send_text(carol.id, "live now", timeout=WAIT)
            [got] = await receive(c, 1)
            assert (got.id, got.text) == (second["id"], "live now")
            reply = await c.send_text(alice.id, "thanks", timeout=WAIT)
            got = await receive(a, 1, where=from_them(carol.id))
            assert got[0].id == reply["id"]
            assert [m.id for m in await quiet(c)] == [reply["id"]]  # its own echo, once

    run(scenario())


# --- a client killed mid-burst -------------------------------------------------------------------
BURST_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from sendapp.client import Account, HttpApi, RealtimeClient

    server, ca, user, friend_id, state, mode, count, min_iterations = sys.argv[1:9]
    password = sys.stdin.readline().rstrip("\\n")

    async def main():
        account = Account.login(HttpApi(server, ca=ca), user, password, min_iterations=int(min_iterations))
        client = RealtimeClient(account, outbox_path=state, queue_messages=False)
        print("pending", len(client.pending), flush=True)
        await client.connect()  # sync, then resend the outbox
        print("connected", len(client.pending), flush=True)
        if mode == "burst":
            for i in range(int(count)):
                await client.queue_text(int(friend_id), f"burst {i}")
                print("queued", i, flush=True)
        await client.flush(timeout=60)
        print("flushed", flush=True)
        await client.disconnect()

    asyncio.run(main())
""")


def _start_burst(server, account, friend_id, state, mode, count, tmp_path):
    script = tmp_path / "burst.py"
    script.write_text(BURST_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, str(script), server.url, str(server.cert_path), account.username,
         str(friend_id), str(state), mode, str(count), str(TEST_KDF_FLOOR)],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    process.stdin.write(PASSWORD + "\n")
    process.stdin.close()
    return process


def _read_until(process, wanted, timeout):
    """Read the script's stdout lines until one starts with `wanted` (bounded)."""
    deadline = time.monotonic() + timeout
    lines = []
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            lines.append(line.strip())
            if line.startswith(wanted):
                return lines
            continue
        if process.poll() is not None:
            break
        time.sleep(0.01)
    raise AssertionError(f"no {wanted!r} line; got {lines[-5:]}; stderr: "
                         f"{process.stderr.read() if process.poll() is not None else ''}")


def test_killed_client_resends_its_outbox_and_every_message_is_stored_once(
        server, pair, tmp_path):
    alice, bob = pair
    state = tmp_path / "alice-state.json"
    count = 120
    burst = _start_burst(server, alice, bob.id, state, "burst", count, tmp_path)
    try:
        _read_until(burst, f"queued {count // 2}", timeout=60)
        burst.send_signal(signal.SIGKILL)  # mid-burst: some stored, some unacked, some unsent
    finally:
        burst.kill()
        burst.wait(10)
    queued_at_kill = json.loads(state.read_text())["outbox"]
    stored_at_kill = {m["cid"] for m in history(bob, alice.id)}
    assert queued_at_kill, "the kill should leave unacknowledged messages in the outbox"
    assert len(stored_at_kill) < count
    # Usually some queued envelopes were stored but their ack was lost: the resend must
    # then get the first id back instead of a second row.
    print("stored but unacked at kill:",
          len(stored_at_kill & {e["cid"] for e in queued_at_kill}))

    resume = _start_burst(server, alice, bob.id, state, "resume", 0, tmp_path)
    try:
        resume.wait(timeout=90)  # its output is a few lines: the pipes cannot fill up
        out, err = resume.stdout.read(), resume.stderr.read()
    finally:
        resume.kill()
        resume.wait(10)
    assert resume.returncode == 0, err
    assert out.split("\n")[:3] == [f"pending {len(queued_at_kill)}", "connected 0", "flushed"]
    assert json.loads(state.read_text())["outbox"] == []

    stored = history(bob, alice.id)
    texts = [bob.decrypt(m)["body"] for m in stored]
    assert len({m["cid"] for m in stored}) == len(stored)
    assert len(texts) == len(set(texts)), "a message was stored twice"
    # Every message queued (hence persisted) before the kill is stored, exactly once.
    assert set(texts) == {f"burst {i}" for i in range(len(texts))}
    assert count // 2 + 1 <= len(texts) <= count


# --- attachments ----------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_file_round_trip_decrypts_to_the_same_bytes(pair, transport, tmp_path):
    alice, bob = pair
    data = os.urandom(200_000) + "é\n".encode()
    path = tmp_path / "photo.bin"
    path.write_bytes(data)

    async def scenario():
        polling = transport == "polling"
        async with live(alice, polling=polling) as a, live(bob, polling=polling) as b:
            ack = await a.send_file(bob.id, path, mime="application/x-test", timeout=WAIT)
            [got] = await receive(b, 1)
            assert got.id == ack["id"] and got.kind == "file"
            return got.plain

    plain = run(scenario())
    assert (plain["name"], plain["mime"], plain["size"]) == ("photo.bin", "application/x-test",
                                                             len(data))
    blob = bob.api.download_blob(plain["blob"])
    assert data not in blob and len(blob) == len(data) + 16  # ciphertext and GCM tag only
    assert bob.download_file(plain) == data
    assert alice.download_file(plain) == data
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_file(blob, crypto.encrypt_file(b"x").key,
                            crypto.b64url_decode(plain["n"]), plain["sha256"])


def test_stranger_cannot_send_or_fetch_keys(server, pair):
    alice, _bob = pair
    stranger = register(server, "carol")

    async def scenario():
        async with live(stranger) as c:
            with pytest.raises(ApiFailure) as refused:  # alice's keys are not visible
                await c.send_text(alice.id, "hello?", timeout=WAIT)
            assert c.pending == []
            return refused.value

    assert run(scenario()).code == "forbidden"


def test_session_cookie_is_required_for_the_socket(server):
    api = api_for(server)  # never logged in

    class Anonymous:
        id = 0

    account = Anonymous()
    account.api = api
    client = RealtimeClient(account, reconnection=False)
    with pytest.raises(RealtimeError, match="cannot open the live connection"):
        run(client.connect(timeout=WAIT))


# --- the command line -----------------------------------------------------------------------------
def cli(server, user, *args, password=PASSWORD, timeout=60):
    """Run `python -m sendapp.client` as a user would; return (code, stdout, stderr)."""
    command = [sys.executable, "-m", "sendapp.client", "--server", server.url,
               "--ca", str(server.cert_path), "--user", user, "--password-stdin",
               "--min-kdf-iterations", str(TEST_KDF_FLOOR), *args]
    done = subprocess.run(command, cwd=ROOT, input=password + "\n", capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return done.returncode, done.stdout, done.stderr


def test_command_line_register_befriend_send_and_read(server, tmp_path):
    dave, erin = unique("dave"), unique("erin")
    assert cli(server, dave, "register")[0] == 0
    assert cli(server, erin, "register")[0] == 0
    code, out, _ = cli(server, dave, "add", erin)
    assert code == 0 and "request sent" in out
    code, out, _ = cli(server, erin, "friends")
    assert code == 0 and f"{dave}  (asks to be your friend" in out
    code, out, _ = cli(server, erin, "accept", dave)
    assert code == 0 and "now friends" in out
    code, out, _ = cli(server, dave, "send", erin, "hello", "from", "the", "cli")
    assert code == 0 and out.startswith("sent #")
    code, out, _ = cli(server, erin, "--polling", "--state", str(tmp_path / "erin.json"),
                       "send", dave, "hi \x1b[31mdave")
    assert code == 0
    attachment = tmp_path / "notes.txt"
    attachment.write_text("secret notes\n")
    code, out, _ = cli(server, dave, "send-file", erin, str(attachment))
    assert code == 0, out
    file_id = int(out.split("#")[1].split()[0])
    code, out, _ = cli(server, erin, "history", dave)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].endswith(f"{dave}: hello from the cli")
    assert lines[1].endswith(f"{erin}: hi \\u001b[31mdave")  # no raw escape reaches a terminal
    assert "[file] notes.txt (13 bytes, text/plain)" in lines[2]
    saved = tmp_path / "saved.txt"
    code, out, _ = cli(server, erin, "download", dave, str(file_id), "--out", str(saved))
    assert code == 0 and saved.read_text() == "secret notes\n"


def test_command_line_follow_prints_history_then_live_messages_until_ctrl_c(server, pair):
    alice, bob = pair
    run(_send_texts(alice, bob.id, ["old one"]))
    command = [sys.executable, "-m", "sendapp.client", "--server", server.url,
               "--ca", str(server.cert_path), "--user", bob.username, "--password-stdin",
               "--min-kdf-iterations", str(TEST_KDF_FLOOR), "--polling", "follow", alice.username]
    follow = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        follow.stdin.write(PASSWORD + "\n")
        follow.stdin.close()
        lines = _read_until(follow, "-- following", timeout=60)
        assert lines[0].endswith(f"{alice.username}: old one")
        run(_send_texts(alice, bob.id, ["new one"]))
        lines = _read_until(follow, "#", timeout=WAIT)
        assert lines[-1].endswith(f"{alice.username}: new one")
        follow.send_signal(signal.SIGINT)
        assert follow.wait(WAIT) == 0
        assert follow.stdout.read().strip() == "-- stopped --"
        assert "Traceback" not in follow.stderr.read()
    finally:
        follow.kill()
        follow.wait(10)


async def _send_texts(account, friend_id, texts):
    async with live(account) as client:
        for text in texts:
            await client.send_text(friend_id, text, timeout=WAIT)


@pytest.mark.parametrize("args, password, code, message", [
    (["friends"], "wrong password!", 1, "error: wrong username or password"),
    (["register"], "short", 1, "error: passwords need at least 8 characters"),
    (["send", "nobody_here", "hi"], PASSWORD, 1, "error: nobody_here is not your friend"),
    (["accept", "nobody_here"], PASSWORD, 1, "error: there is no pending friend request"),
])
def test_command_line_reports_expected_errors_without_a_traceback(
        server, args, password, code, message):
    user = unique("fay")
    assert cli(server, user, "register")[0] == 0
    result, out, err = cli(server, user, *args, password=password)
    assert result == code, (out, err)
    assert err.startswith(message) and "Traceback" not in err


def test_command_line_refuses_an_untrusted_certificate(server):
    done = subprocess.run(
        [sys.executable, "-m", "sendapp.client", "--server", server.url, "--user", "gus",
         "--password-stdin", "friends"],
        cwd=ROOT, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items()
             if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        | {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 3
    assert done.stderr.startswith("error: TLS failure") and "Traceback" not in done.stderr


# --- key pinning (issue 7, §1): the server's database cannot choose the keys -----------------------
def database(server):
    return server.instance_path / "sendapp.sqlite3"


def test_key_bytes_swapped_under_the_same_id_are_dropped_and_nothing_is_sent(server, pair):
    alice, bob = pair
    alice.encrypt_text(bob.id, "first contact pins bob's key in alice's vault")
    keyrows.replace_key_bytes(database(server), bob.username)
    again = login(server, alice.username)  # a fresh device: nothing cached

    async def scenario():
        async with live(again) as client:
            with pytest.raises(KeyChangeError, match="does not match its id"):
                await client.send_text(bob.id, "for whoever holds the swapped key", WAIT,
                                       confirm_key_change=True)

    run(scenario())
    assert again.key_warning(bob.id)["rejected"] == {bob.current_key_id}
    assert keyrows.sent_messages(database(server), alice.username, bob.username) == []


def test_message_under_an_added_key_is_unverified_until_accepted_on_any_device(server, pair):
    alice, bob = pair
    alice.encrypt_text(bob.id, "first contact pins bob's key in alice's vault")
    forged = keyrows.add_key(database(server), bob.username)
    keyrows.store_message(database(server), bob.username, alice.username, forged,
                          "please send me the door code")
    again = login(server, alice.username)

    async def scenario():
        async with live(again) as client:
            [message] = await receive(client, 1, where=from_them(bob.id))
            assert message.plain["body"] == "please send me the door code"
            assert message.unverified is True
            with pytest.raises(KeyChangeError, match="changed"):
                await client.send_text(bob.id, "the code is 1234", WAIT)

    run(scenario())
    assert again.key_warning(bob.id)["pending"] == {forged[0]}
    assert keyrows.sent_messages(database(server), alice.username, bob.username) == []
    # The command line says the same, and accepting there is remembered in the vault.
    code, out, err = cli(server, alice.username, "history", bob.username)
    assert code == 0 and "[from an unverified key] please send me the door code" in out
    assert "security key changed" in err
    code, out, _ = cli(server, alice.username, "trust", bob.username)
    assert code == 0 and forged[0] in out
    later = login(server, alice.username)  # another device: no warning, no mark
    [envelope] = [m for m in history(later, bob.id) if m["sk"] == forged[0]]
    assert later.is_unverified(envelope) is False
    assert later.key_warning(bob.id) is None
