"""A started service's garbage collector: what starting allocated is frozen, and the youngest
generation is collected less often."""

from __future__ import annotations

import gc

from orderflow_chassis.process_tuning import GEN0_THRESHOLD, settle_garbage_collector


def test_settling_freezes_what_exists_and_raises_the_first_threshold() -> None:
    before = gc.get_threshold()
    try:
        kept = [object() for _ in range(10)]  # alive when the service settles
        settle_garbage_collector()
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == (GEN0_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
