"""The checkpoint helper (sendapp/wal_checkpoint.py) with the real server process: started
by the first messages, stopped by a clean stop before SQLite removes its WAL, and gone by
itself when the server is killed."""
import os
import signal
import time
from pathlib import Path

from bench.targets import children_of
from support.live_people import befriend_live, connect_socket, register_live
from support.messages import text_envelope
from support.waiting import wait_for

WAIT = 10.0
HELPER = "wal_checkpoint.py"


def command_line(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def helper_of(server):
    """The pid of the server's checkpoint helper, once it runs (bounded wait)."""
    found = []

    def running():
        found[:] = [child for child in children_of(server.pid)
                    if HELPER in command_line(child)]
        return bool(found)

    assert wait_for(running, WAIT), f"no {HELPER} child of the server after {WAIT}s"
    return found[0]


def ended(pid):
    """Gone, or a zombie waiting for whoever adopted it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def send_messages(server, count):
    """Enough messages for the writer to ask for a checkpoint (every 0.2 s while it writes)."""
    alice, bob = register_live(server, "ckpt_a"), register_live(server, "ckpt_b")
    befriend_live(server, alice, bob)
    client = connect_socket(server, alice.devices[0])
    try:
        for number in range(count):
            ack = client.call("send", text_envelope(alice, bob, f"#{number}"), timeout=WAIT)
            assert ack["ok"], ack
            time.sleep(0.01)
    finally:
        client.disconnect()


def test_a_clean_stop_ends_the_helper_and_leaves_no_wal(live_server):
    send_messages(live_server, 30)
    helper = helper_of(live_server)
    live_server.signal(signal.SIGTERM)
    assert live_server.wait(timeout=WAIT) == 0
    assert ended(helper)
    database = live_server.instance_path / "sendapp.sqlite3"
    assert database.exists()
    assert not Path(f"{database}-wal").exists()  # no other process held the database open
    assert "checkpoint helper failed" not in live_server.log_text()


def test_the_helper_ends_by_itself_when_the_server_is_killed(live_server):
    send_messages(live_server, 30)
    helper = helper_of(live_server)
    live_server.kill()
    if not wait_for(lambda: ended(helper), WAIT):
        os.kill(helper, signal.SIGKILL)  # by pid: leave nothing behind, then fail
        raise AssertionError("the checkpoint helper outlived its server")
