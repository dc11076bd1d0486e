"""The first-start secret key when several processes share one instance folder (config.py)."""
import multiprocessing
import os
import stat

import pytest

from sendapp import config
from sendapp.config import _load_or_create_secret

PROCESSES = 8
ROUNDS = 10


def _create(folder, barrier, results):
    barrier.wait()  # every process asks at the same moment
    try:
        results.put(_load_or_create_secret(folder))
    except Exception as error:  # noqa: BLE001 - the parent asserts on it
        results.put(f"error: {error!r}")


def test_processes_starting_together_all_get_the_one_key(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_number in range(ROUNDS):
        folder = tmp_path / f"instance{round_number}"
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_create, args=(folder, barrier, results))
                   for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        keys = [results.get(timeout=10) for _ in workers]
        for worker in workers:
            worker.join(10)
        stored = (folder / "secret_key").read_text()
        assert len(stored) == 64 and keys == [stored] * PROCESSES
        assert os.listdir(folder) == ["secret_key"]  # no temporary file left behind
        assert stat.S_IMODE((folder / "secret_key").stat().st_mode) == 0o600


def test_a_process_that_loses_the_race_reads_the_winners_key(tmp_path, monkeypatch):
    """Another process links its key in between this one's write and its link."""
    real_link = os.link

    def winner_first(source, destination):
        (tmp_path / "secret_key").write_text("the-winners-key")
        return real_link(source, destination)

    monkeypatch.setattr(config.os, "link", winner_first)
    assert _load_or_create_secret(tmp_path) == "the-winners-key"
    assert os.listdir(tmp_path) == ["secret_key"]


def test_the_key_appears_only_complete(tmp_path, monkeypatch):
    """Until the key is written and synced, the name does not exist (nobody reads it half)."""
    seen = []
    real_fsync = os.fsync

    def look(fd):
        seen.append((tmp_path / "secret_key").exists())
        return real_fsync(fd)

    monkeypatch.setattr(config.os, "fsync", look)
    key = _load_or_create_secret(tmp_path)
    assert seen == [False] and (tmp_path / "secret_key").read_text() == key


def test_an_existing_key_is_kept(tmp_path):
    (tmp_path / "secret_key").write_text("kept\n")
    assert _load_or_create_secret(tmp_path) == "kept"


def test_an_empty_key_file_is_a_clear_error(tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="SENDAPP_SECRET_KEY"):
        _load_or_create_secret(tmp_path)
