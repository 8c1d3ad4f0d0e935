"""The probes' cadence follows attention: full while a page is looked at, slow otherwise, and a
first look after a quiet spell wakes a waiting probe at once."""

from __future__ import annotations

import asyncio

from orderflow_chassis.waiting import wait_at_most
from orderflow_ops.console.live import Attention


def test_nobody_watches_until_a_page_is_looked_at_and_then_for_a_window() -> None:
    attention = Attention(window_s=60)
    assert not attention.watched()
    attention.looked()
    assert attention.watched()
    assert not Attention(window_s=0).watched()


async def test_a_first_look_wakes_a_slow_wait_at_once() -> None:
    attention = Attention(window_s=60)
    waiting = asyncio.create_task(attention.wait(timeout_s=600))
    await asyncio.sleep(0)  # the probe is waiting
    attention.looked()
    await wait_at_most(30, waiting)  # not the 600 s it would otherwise sleep
    assert waiting.done()


async def test_an_unwatched_wait_ends_after_its_timeout() -> None:
    attention = Attention(window_s=60)
    await wait_at_most(30, attention.wait(timeout_s=0.01))
