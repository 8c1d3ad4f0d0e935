"""Bounded waits keep a cancellation that arrives as what they wait for completes (Python
3.11's ``asyncio.wait_for`` drops it: a loop around it never stopped), and a stop never waits
for ever on a task that loses one (decision 70)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import pytest
import structlog
from orderflow_chassis import runtime as runtime_module
from orderflow_chassis.relay import OutboxRelay, Role, Round
from orderflow_chassis.runtime import ServiceDefinition, ServiceRuntime
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.waiting import cancel_and_wait, wait_at_most


async def test_a_cancellation_arriving_as_the_wait_ends_is_kept() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_at_most(5, event.wait()))
    await asyncio.sleep(0)  # waiting on the event
    event.set()
    waiting.cancel()  # in the same turn of the loop: the event's waiter is already woken

    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_wait_past_its_bound_raises_timeout_and_returns_a_result_within_it() -> None:
    with pytest.raises(TimeoutError):
        await wait_at_most(0.01, asyncio.Event().wait())
    assert await wait_at_most(None, asyncio.sleep(0, result="done")) == "done"


async def test_the_relay_waiting_for_a_notify_stops_when_cancelled_as_the_notify_comes() -> None:
    relay = OutboxRelay(cast(Any, None), cast(Any, None), schema="probe", service="probe")
    pausing = asyncio.create_task(relay._pause(Round(Role.LEADER, claimed=0)))
    await asyncio.sleep(0)  # waiting for a NOTIFY, up to its poll interval
    relay._on_notify()
    pausing.cancel()

    with pytest.raises(asyncio.CancelledError):
        await pausing  # with asyncio.wait_for, it returned: the relay's loop went on for ever


async def _loses_the_first_cancellation() -> None:
    with contextlib.suppress(asyncio.CancelledError):  # as a library's wait_for may
        await asyncio.Event().wait()
    await asyncio.Event().wait()


class Stubborn:
    """A task that ignores every cancellation until the test lets it go."""

    def __init__(self) -> None:
        self.released = False

    async def run(self) -> None:
        while not self.released:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue


async def test_cancel_and_wait_cancels_again_and_names_what_outlives_its_bound() -> None:
    losing = asyncio.create_task(_loses_the_first_cancellation(), name="losing")
    stubborn = Stubborn()
    ignoring = asyncio.create_task(stubborn.run(), name="stubborn")
    await asyncio.sleep(0)

    still_running = await wait_at_most(10, cancel_and_wait([losing, ignoring], bound_s=1.5))

    assert losing.cancelled(), "cancelled again, it ended"
    assert still_running == ["stubborn"]
    assert not ignoring.done()
    stubborn.released = True
    await ignoring


async def test_a_service_stop_goes_on_past_a_task_that_will_not_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "_TASKS_END_AT_STOP_S", 0.2)
    runtime = ServiceRuntime(
        ServiceDefinition(name="probe"),
        ServiceSettings(service_name="probe", database_url="postgresql://x@y/z"),
    )
    stubborn = Stubborn()
    runtime._spawn(stubborn.run(), "stubborn")
    await asyncio.sleep(0)

    with structlog.testing.capture_logs() as logs:
        await wait_at_most(10, runtime.stop())
    stubborn.released = True

    logged = {entry["event"]: entry for entry in logs}
    assert logged["service.tasks_would_not_stop"]["tasks"] == ["stubborn"]
    assert "service.stopped" in logged
