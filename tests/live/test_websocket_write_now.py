"""app.websocket_write_now on a real eventlet WebSocket over real TLS (a process of its own,
tests/support/write_now_probe.py): frames leave at once while the socket takes them; when
it stops taking them, what is left is finished later with the send lock held throughout,
so nothing is lost, doubled, reordered or interleaved."""
import json
import subprocess
import sys

from tests.support.live_server import LiveServer, ROOT

PROBE = "tests.support.write_now_probe"  # run as a module from ROOT, so `app` imports


def test_frames_are_written_at_once_or_finished_later_in_order(tmp_path):
    env = LiveServer(tmp_path).env  # its own instance folder, no SENDAPP_* of the caller's
    done = subprocess.run([sys.executable, "-m", PROBE, str(tmp_path / "certs")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["small_rest"] is False, "two small frames on an idle socket leave at once"
    assert out["small_read"] == ["4hello", "4world"]
    assert out["later"], f"the socket never said later in {out['frames_before_later']} frames"
    assert out["frames_before_later"] > 1, "frames were taken at once until the buffers filled"
    assert out["behind_is_later"] and out["lock_held"], "a second write waits for the first"
    assert out["all_received_in_order"], out["received"]
    assert out["lock_released"]
