"""`paused_gc`: the collector is off in the block, back on after, and what the block made is frozen."""
from __future__ import annotations

import gc

from mlbuild._util.memory import paused_gc


def test_the_collector_is_paused_then_resumed_with_the_blocks_objects_frozen():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            made = [[i] for i in range(1000)]
        assert not gc.isenabled() and gc.get_freeze_count() == before   # the inner block froze nothing
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(made)
    collected = {id(x) for x in gc.get_objects()}
    assert not any(id(x) in collected for x in made)   # out of every generation the collector traverses


def test_a_disabled_collector_stays_disabled_and_nothing_is_frozen():
    before = gc.get_freeze_count()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled() and gc.get_freeze_count() == before
    finally:
        gc.enable()
