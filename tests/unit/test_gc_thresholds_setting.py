"""SENDAPP_GC_THRESHOLDS: three positive integers, or a clear error naming the value."""
import pytest

from sendapp.config import Config


def _config(tmp_path, value):
    env = {"SENDAPP_INSTANCE_PATH": str(tmp_path)}
    if value is not None:
        env["SENDAPP_GC_THRESHOLDS"] = value
    return Config(env)


def test_gc_thresholds_are_read_from_the_environment(tmp_path):
    assert _config(tmp_path, "1000,5,3").GC_THRESHOLDS == (1000, 5, 3)


@pytest.mark.parametrize("value", ["1000,5", "1000,5,3,1", "0,10,10", "a,b,c", "-1,10,10"])
def test_malformed_gc_thresholds_are_refused_with_the_value_named(tmp_path, value):
    with pytest.raises(ValueError, match="three positive integers"):
        _config(tmp_path, value)


def test_freezing_survivors_is_on_every_second_by_default_and_zero_turns_it_off(tmp_path):
    default = Config({"SENDAPP_INSTANCE_PATH": str(tmp_path)})
    assert (default.GC_FREEZE_SECONDS, default.GC_THAW_SECONDS) == (1.0, 600.0)
    off = Config({"SENDAPP_INSTANCE_PATH": str(tmp_path), "SENDAPP_GC_FREEZE_SECONDS": "0"})
    assert off.GC_FREEZE_SECONDS == 0
    config = Config({"SENDAPP_INSTANCE_PATH": str(tmp_path), "SENDAPP_GC_FREEZE_SECONDS": "2",
                     "SENDAPP_GC_THAW_SECONDS": "3"})
    assert (config.GC_FREEZE_SECONDS, config.GC_THAW_SECONDS) == (2.0, 3.0)


def test_survivors_are_frozen_each_interval_and_all_thawed_at_the_thaw(monkeypatch):
    """app.freeze_survivors: gc.freeze() after each `every`; at the thaw, unfreeze and one full
    collection (which frees a cycle among old objects), then freeze again."""
    import gc

    import app as server_module

    counts = []  # objects frozen, seen at each tick before it acts

    class Stop(Exception):
        pass

    def sleep(seconds):
        counts.append(gc.get_freeze_count())
        if len(counts) == 5:
            raise Stop

    collected = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(len(counts)) or 0)
    gc.unfreeze()
    try:
        with pytest.raises(Stop):
            server_module.freeze_survivors(1, 3, start=lambda loop: loop(), sleep=sleep)
        assert counts[0] == 0 and counts[1] > 0  # frozen after the first interval
        assert collected == [3]  # the third interval thaws and collects, once
    finally:
        gc.unfreeze()


def test_long_collections_are_logged_by_a_task_never_inside_the_collector(monkeypatch):
    """app.log_long_collections: logging inside the collector's callback re-entered eventlet's
    registration of the current greenthread (a KeyError when it ended); the callback only
    records, the task logs."""
    import gc

    import app as server_module

    in_collection, logged, tasks = [False], [], []

    def watch(phase, _info):
        in_collection[0] = phase == "start"

    class Recorder:
        def info(self, message, *args):
            logged.append((in_collection[0], message % args))

    class Stop(Exception):
        pass

    ticks = []

    def sleep(_seconds):
        ticks.append(1)
        if len(ticks) > 1:
            raise Stop

    monkeypatch.setattr(server_module, "GC_PAUSE_NOTICE", 0.0)  # every collection counts
    monkeypatch.setattr(server_module, "log", Recorder())
    note = server_module.log_long_collections(start=tasks.append, sleep=sleep)
    gc.callbacks.append(watch)  # after note: still "in the collection" while note runs
    try:
        gc.collect()
        assert logged == []  # recorded, not logged, while collecting
        with pytest.raises(Stop):
            tasks[0]()
    finally:
        gc.callbacks.remove(note)
        gc.callbacks.remove(watch)
    assert logged and not any(inside for inside, _line in logged), logged
    assert any(line.startswith("garbage collection of generation 2 paused the server")
               for _inside, line in logged), logged
