"""A started service's garbage collector: what starting allocated is frozen, and the youngest
generation is collected less often."""

from __future__ import annotations

import gc

from orderflow_chassis.process_tuning import GEN0_THRESHOLD, settle_garbage_collector


def test_settling_freezes_what_exists_and_raises_the_first_threshold() -> None:
    before = gc.get_threshold()
    try:
        kept: list[list[object]] = [[] for _ in range(10)]  # lists: the collector tracks them
        settle_garbage_collector()
        tracked = {id(value) for value in gc.get_objects()}
        assert not any(id(value) in tracked for value in kept)  # frozen: out of its sight
        assert gc.get_threshold() == (GEN0_THRESHOLD, before[1], before[2])
        later: list[object] = []
        assert id(later) in {id(value) for value in gc.get_objects()}  # collected as before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
