"""The overload scenario's outbox (bench/outbox.py) against the real server: `retry` nacks
are resent with the same cid and every message ends up stored exactly once.

The server answers `retry` when SQLite stays locked longer than SENDAPP_DB_LOCK_WAIT;
the test holds an exclusive lock on the server's database for a moment while messages
are offered open-loop, as another process writing would.
"""
import asyncio
import sqlite3
import threading
import time

from bench import people, scenarios, targets
from bench.outbox import Outbox
from sendapp import tls
from sendapp.client.realtime import ssl_context

LOCK_AFTER, LOCK_FOR = 0.3, 0.6  # seconds into the run; held this long
RATE, SECONDS = 40.0, 1.5  # messages offered per second, for this long


def hold_exclusive_lock(path, after, seconds):
    """After `after` s, lock the SQLite database for writing for `seconds` s."""
    time.sleep(after)
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


async def offer_while_locked(process, pairs, ca, database_path):
    target = scenarios.Target("sqlite", process, pairs, ssl_context(str(ca)))
    await target.open()
    try:
        pools = [people.seal(pairs[0], int(RATE * SECONDS) + 1)]
        locker = threading.Thread(target=hold_exclusive_lock,
                                  args=(database_path, LOCK_AFTER, LOCK_FOR))
        locker.start()
        try:
            return await scenarios.open_loop(target, pools, RATE, SECONDS, ack_timeout=20.0,
                                             outbox=Outbox)
        finally:
            await asyncio.to_thread(locker.join, 15)
    finally:
        await target.close()


def test_retry_nacks_are_resent_and_every_cid_is_stored_once(tmp_path):
    cert_dir = tmp_path / "certs"
    tls.ensure_certificate(str(cert_dir), extra_hosts=[targets.HOST])
    ca = cert_dir / tls.CA_NAME
    process = targets.sendapp_process(tmp_path / "server", cert_dir, None,
                                      extra_env={"SENDAPP_DB_LOCK_WAIT": "0.05"}).start()
    try:
        pairs, _seconds = people.sendapp_pairs(process.url, ca, 1, "outbox")
        database_path = process.database_url.removeprefix("sqlite:///")
        result = asyncio.run(offer_while_locked(process, pairs, ca, database_path))
    finally:
        process.stop()
    assert result["retry_nacks"] > 0, result  # the lock made the server refuse some
    assert result["resent"] > 0 and result["gave_up"] == 0, result
    assert result["acked"] == result["sent"] == int(RATE * SECONDS), result
    assert result["timeouts"] == 0 and result["nacked"] == {}, result
    assert result["lost"] == 0 and result["doubled"] == 0, result
    assert result["stored"]["ok"] is True, result["stored"]
