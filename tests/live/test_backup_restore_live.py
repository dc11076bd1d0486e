"""`flask backup` against a running server, `flask restore` into a fresh instance, and the
users log in there and read their whole history, attachment included (real processes)."""
import asyncio
import os
import subprocess
import sys

import requests

from support.live_clients import WAIT, befriend, live, login, receive, register, run
from support.live_server import ROOT, LiveServer

FLASK_TIMEOUT = 120  # seconds for one `flask backup` / `flask restore`
MAX_DURING = 5000  # messages sent while the backup runs, at most (~7 ms each)


def flask(server, *args):
    """Run `flask --app app …` with the server's environment; return the finished process."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=server.env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=FLASK_TIMEOUT)


def history(account, friend_id):
    """The whole conversation over HTTP, oldest first."""
    messages, before = [], None
    while True:
        page = account.api.history(friend_id, before=before, limit=200)
        messages[:0] = page["messages"]
        if not page["more"]:
            return messages
        before = page["messages"][0]["id"]


def test_backup_while_serving_then_restore_into_a_fresh_instance(tmp_path):
    data = os.urandom(150_000) + "fin ✓".encode()
    attachment = tmp_path / "photo.bin"
    attachment.write_bytes(data)
    backup = tmp_path / "backups" / "sendapp.tar.gz"
    backup.parent.mkdir()
    old = LiveServer(tmp_path / "old")
    old.start()
    try:
        alice, bob = register(old, "alice"), register(old, "bob")
        befriend(alice, bob)

        async def scenario():
            async with live(alice) as a, live(bob) as b:
                for i in range(3):
                    await a.send_text(bob.id, f"alice {i}", timeout=WAIT)
                    await b.send_text(alice.id, f"bob {i}", timeout=WAIT)
                await a.send_file(bob.id, attachment, mime="application/x-test", timeout=WAIT)
                await receive(b, 7, where=lambda m: m.sender == alice.id or m.mine)
                # The backup runs while alice keeps sending: the copy must be one instant.
                made = asyncio.ensure_future(asyncio.to_thread(flask, old, "backup", str(backup)))
                sent = 0
                while not made.done() and sent < MAX_DURING:
                    await a.send_text(bob.id, f"during {sent}", timeout=WAIT)
                    sent += 1
                done = await made
                await a.send_text(bob.id, "after the backup", timeout=WAIT)
                return done, sent

        done, sent = run(scenario())
        assert done.returncode == 0, done.stdout + done.stderr
        assert 0 < sent < MAX_DURING  # alice was writing for the whole backup
        assert "1 attachment(s)" in done.stdout
        assert "Traceback" not in done.stderr
        original = history(bob, alice.id)
        while_running = flask(old, "restore", str(backup), "--force")
        assert while_running.returncode == 1
        assert "stop the SendApp server" in while_running.stderr
        old_cookie = alice.api.cookie_header()
    finally:
        old.stop()

    # A fresh instance folder, port and SENDAPP_SECRET_KEY: the backup holds no key, so the
    # old sessions must not work here and everyone logs in again with their password.
    new = LiveServer(tmp_path / "new")
    assert new.instance_path != old.instance_path and new.env["SENDAPP_SECRET_KEY"] != \
        old.env["SENDAPP_SECRET_KEY"]
    restored = flask(new, "restore", str(backup))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "1 attachment(s)" in restored.stdout
    new.start()
    try:
        stale = requests.get(new.url + "/api/me", headers={"Cookie": old_cookie},
                             verify=str(new.cert_path), timeout=WAIT)
        assert stale.status_code == 401
        alice2, bob2 = login(new, alice.username), login(new, bob.username)
        got = history(bob2, alice2.id)
        assert got == original[:len(got)]  # a prefix: the database as of one instant
        texts = [bob2.decrypt(m).get("body") for m in got]
        assert texts[:7] == ["alice 0", "bob 0", "alice 1", "bob 1", "alice 2", "bob 2", None]
        assert texts[7:] == [f"during {i}" for i in range(len(texts) - 7)]
        assert len(texts) - 7 <= sent
        assert "after the backup" not in texts
        assert [alice2.decrypt(m).get("body") for m in history(alice2, bob2.id)] == texts
        plain = bob2.decrypt(got[6])
        assert (plain["t"], plain["name"], plain["size"]) == ("file", "photo.bin", len(data))
        assert bob2.download_file(plain) == data
        assert alice2.download_file(plain) == data

        async def still_talks():
            async with live(alice2) as a, live(bob2) as b:
                ack = await a.send_text(bob2.id, "hello again", timeout=WAIT)
                [message] = await receive(b, 1, where=lambda m: m.id == ack["id"])
                return message.text

        assert run(still_talks()) == "hello again"
    finally:
        new.stop()
