"""The real server collects orphaned attachment files at startup and then periodically."""
import os
import time

OLD = time.time() - 2 * 3600  # older than the collector's upload grace period
WAIT = 10


def plant(blob_dir, name):
    """A leftover file of an interrupted upload (no row), old enough to collect."""
    path = blob_dir / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ciphertext of an interrupted upload")
    os.utime(path, (OLD, OLD))
    return path


def wait_gone(path, server):
    deadline = time.monotonic() + WAIT
    while path.exists() and time.monotonic() < deadline:
        server.http_session().get(server.url + "/api/csrf", timeout=5)
        time.sleep(0.2)
    return not path.exists()


def test_orphaned_files_are_collected_at_startup_and_periodically(start_live_server, tmp_path):
    blob_dir = tmp_path / "blobs"
    at_start = plant(blob_dir, "a" * 22)
    server = start_live_server({"SENDAPP_BLOB_DIR": blob_dir, "SENDAPP_BLOB_GC_INTERVAL": 1})
    assert wait_gone(at_start, server)
    later = plant(blob_dir, "b" * 22)
    assert wait_gone(later, server)
    log = server.log_text()
    assert log.count("blob collection removed 0 unreadable, 0 rows_without_file, "
                     "1 files_without_row") == 2
    assert "Traceback" not in log
