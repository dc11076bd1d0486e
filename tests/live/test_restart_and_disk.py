"""Against the real process: a server restart loses nothing, and its disk holds ciphertext only."""
import asyncio
import uuid
from pathlib import Path

from sendapp import crypto
from sendapp.client import Account, HttpApi, RealtimeClient
from sendapp.encoding import b64url_encode
from support.live_server import TEST_KDF_ITERATIONS

PASSWORD = "correct horse battery staple"
WAIT = 30


def run(coroutine, timeout=180):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def accounts(server):
    api = lambda: HttpApi(server.url, ca=str(server.cert_path))  # noqa: E731
    alice = Account.register(api(), "alice", PASSWORD, min_iterations=TEST_KDF_ITERATIONS)
    bob = Account.register(api(), "bob", PASSWORD, min_iterations=TEST_KDF_ITERATIONS)
    assert alice.api.request_friend("bob") == {"status": "requested"}
    bob.api.accept_friend(alice.id)
    return alice, bob


def live(account):
    return RealtimeClient(account, reconnection_delay=0.2, reconnection_delay_max=1.0)


async def receive(client, count):
    return [await client.next_message(WAIT) for _ in range(count)]


def test_messages_sent_while_the_server_is_down_arrive_once_after_restart(live_server):
    alice, bob = accounts(live_server)

    async def scenario():
        async with live(alice) as a, live(bob) as b:
            first = await a.send_text(bob.id, "before the restart", timeout=WAIT)
            assert (await receive(b, 1))[0].id == first["id"]
            await asyncio.to_thread(live_server.stop)
            cids = [await a.queue_text(bob.id, f"while down {i}") for i in range(3)]
            assert [e["cid"] for e in a.pending] == cids
            await asyncio.to_thread(live_server.restart)
            acks = [await a.wait_acked(cid, timeout=WAIT) for cid in cids]
            got = await receive(b, 3)
            assert [m.text for m in got] == [f"while down {i}" for i in range(3)]
            assert [m.id for m in got] == [ack["id"] for ack in acks]
            assert a.pending == []

    run(scenario())
    stored = bob.api.history(alice.id, limit=200)["messages"]
    assert len(stored) == 4 and len({m["cid"] for m in stored}) == 4


def _needles(alice, bob, marker, file_marker):
    """Every secret that must never reach the server's disk, raw and base64url."""
    needles = {"marker": marker.encode(), "file marker": file_marker,
               "password": PASSWORD.encode()}
    for account in (alice, bob):
        secrets = crypto.derive_account_secrets(account.username, PASSWORD, 1000)
        needles[f"{account.username} vault key"] = secrets.vault_key
        needles[f"{account.username} master"] = secrets.master
        needles[f"{account.username} auth"] = secrets.auth.encode()
        for pair in account.key_pairs.values():
            needles[f"{account.username} private key"] = pair.private
    for name, value in list(needles.items()):
        if isinstance(value, bytes) and name not in ("marker", "password", "file marker"):
            needles[name + " (b64url)"] = b64url_encode(value).encode()
    return needles


def test_disk_holds_no_plaintext_private_key_or_vault_key(live_server, tmp_path):
    alice, bob = accounts(live_server)
    marker = "PLAINTEXT-MARKER-" + uuid.uuid4().hex
    file_marker = ("FILE-MARKER-" + uuid.uuid4().hex).encode() * 50

    async def scenario():
        async with live(alice) as a, live(bob) as b:
            await a.send_text(bob.id, f"secret: {marker}", timeout=WAIT)
            await b.send_text(alice.id, f"reply {marker}", timeout=WAIT)
            await a.send_file(bob.id, file_marker, name=f"{marker}.txt", mime="text/plain",
                              timeout=WAIT)
            texts = [m.text for m in await receive(b, 3) if m.kind == "text"]
            assert f"secret: {marker}" in texts

    run(scenario())
    live_server.stop()  # flush SQLite's WAL into the files we scan
    files = [p for p in Path(live_server.instance_path).rglob("*") if p.is_file()]
    blob_files = [p for p in files if "blobs" in p.parts]
    assert blob_files, "the attachment should be on disk, encrypted"
    assert any(p.name.startswith("sendapp.sqlite3") for p in files)
    needles = _needles(alice, bob, marker, file_marker)
    assert len(needles) >= 10
    for path in files:
        content = path.read_bytes()
        for name, needle in needles.items():
            assert needle not in content, f"{name} found in {path}"
    log = live_server.log_text().encode()
    for name, needle in needles.items():
        assert needle not in log, f"{name} found in the server log"
