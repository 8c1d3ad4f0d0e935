"""Bounded waits keep a cancellation that arrives as what they wait for completes (Python
3.11's ``asyncio.wait_for`` drops it: a loop around it never stopped), and a stop never waits
for ever on a task that loses one (decision 70)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from typing import Any, cast

import pytest
import structlog
from orderflow_chassis import runtime as runtime_module
from orderflow_chassis.relay import OutboxRelay, Role, Round
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.waiting import cancel_and_wait, stop_task, wait_at_most


def _unstarted_runtime(**definition: Any) -> ServiceRuntime:
    return ServiceRuntime(
        ServiceDefinition(name="probe", **definition),
        ServiceSettings(service_name="probe", database_url="postgresql://x@y/z"),
    )


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
    runtime = _unstarted_runtime()
    stubborn = Stubborn()
    runtime._spawn(stubborn.run(), "stubborn")
    await asyncio.sleep(0)

    with structlog.testing.capture_logs() as logs:
        await wait_at_most(10, runtime.stop())
    stubborn.released = True

    logged = {entry["event"]: entry for entry in logs}
    assert logged["service.tasks_would_not_stop"]["tasks"] == ["stubborn"]
    assert "service.stopped" in logged


async def test_a_stop_asked_for_while_starting_ends_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = _unstarted_runtime()
    started = asyncio.Event()

    async def start_that_waits_for_kafka() -> None:
        started.set()
        await asyncio.Event().wait()  # Kafka away: aiokafka waits for a producer id

    monkeypatch.setattr(runtime, "start", start_that_waits_for_kafka)
    running = asyncio.create_task(runtime.run_until_stopped())
    await wait_at_most(5, started.wait())

    runtime.request_stop()  # SIGTERM

    await wait_at_most(10, running)  # it waited for the start to end: for ever


async def test_a_stop_hook_that_hangs_is_given_up_and_the_stop_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "_HOOK_AT_STOP_S", 0.2)

    async def close_a_silent_connection() -> None:
        await asyncio.Event().wait()

    runtime = _unstarted_runtime(on_stop=[close_a_silent_connection])

    with structlog.testing.capture_logs() as logs:
        await wait_at_most(10, runtime.stop())

    logged = {entry["event"]: entry for entry in logs}
    assert logged["service.on_stop_failed"]["hook"] == "close_a_silent_connection"
    assert "service.stopped" in logged


_LEAVES_A_TASK_BEHIND = """
import asyncio, sys
from orderflow_chassis.waiting import cancel_and_wait, run_to_the_end

left = []

async def stubborn():
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue

async def main():
    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    left.extend(await cancel_and_wait([task], bound_s=0.3))
    print("stopped", flush=True)

run_to_the_end(main(), left_running=lambda: left)
print("after", flush=True)
"""


def test_a_process_exits_around_a_task_that_would_not_stop() -> None:
    # asyncio.run's own clean-up cancels what is left once more and waits for it without end.
    finished = subprocess.run(
        [sys.executable, "-c", _LEAVES_A_TASK_BEHIND],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert (lines[0], lines[-1]) == ("stopped", "after"), "the caller goes on"
    assert "process.exiting_around_tasks" in finished.stdout
    assert "stubborn" in finished.stdout


def test_a_process_whose_tasks_all_stopped_ends_as_asyncio_run_would() -> None:
    script = _LEAVES_A_TASK_BEHIND.replace(
        "except asyncio.CancelledError:", "except ZeroDivisionError:"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["stopped", "after"]
    assert "Task was destroyed" not in finished.stderr, "closed as asyncio.run closes"


async def test_stop_task_raises_the_tasks_failure_and_never_swallows_ours() -> None:
    async def fails_when_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            raise ValueError("its own failure")

    failing = asyncio.create_task(fails_when_cancelled())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="its own failure"):
        await stop_task(failing)

    stubborn = Stubborn()
    ignoring = asyncio.create_task(stubborn.run())
    stopping = asyncio.create_task(stop_task(ignoring))
    await asyncio.sleep(0.1)
    stopping.cancel()  # the caller's own cancellation, while the task ignores its own
    with pytest.raises(asyncio.CancelledError):
        await stopping
    stubborn.released = True
    await ignoring
