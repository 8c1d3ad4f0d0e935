"""A subscription's declaration is checked when it is made."""

from __future__ import annotations

from typing import Any

import pytest
from orderflow_chassis.subscriptions import Subscription


async def _nothing(*_: Any) -> None:
    return None


def test_deferred_writes_need_a_lock_ahead_to_start_each_attempt() -> None:
    with pytest.raises(ValueError, match="write_behind needs a lock_ahead"):
        Subscription(name="projection", topics=["t"], handlers={}, write_behind=_nothing)
    declared = Subscription(
        name="projection", topics=["t"], handlers={}, lock_ahead=_nothing, write_behind=_nothing
    )
    assert declared.write_behind is _nothing
