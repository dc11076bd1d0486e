"""The bare relay keeps its garbage collector off old objects as app.py does, unless asked not to.

Without it a full collection walks every Flask and eventlet object and pauses the relay
100-120 ms every few seconds under load, which was the relay's whole p99
(docs/BENCHMARKS.md): the stack's ceiling would then be slower than SendApp.
"""
import gc

from bench import bare_relay, targets


def test_start_up_objects_are_frozen_and_the_loop_is_started():
    started = []
    gc.unfreeze()
    assert gc.get_freeze_count() == 0  # nothing frozen before: the call below must do it
    try:
        bare_relay.keep_collector_off_survivors(start=started.append)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert len(started) == 1 and callable(started[0])


def test_the_harness_asks_for_the_stock_collector_only_when_told(tmp_path):
    default = targets.bare_process(tmp_path, tmp_path, None)
    stock = targets.bare_process(tmp_path, tmp_path, None, stock_gc=True)
    assert "--stock-gc" not in default.argv
    assert "--stock-gc" in stock.argv
