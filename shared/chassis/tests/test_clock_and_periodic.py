import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog.testing
from orderflow_chassis.clock import SettableClock, SystemClock
from orderflow_chassis.periodic import every
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.waiting import wait_at_most


def test_settable_clock_moves_only_when_told() -> None:
    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    clock = SettableClock(start)
    assert clock.now() == start
    clock.advance(timedelta(days=30))
    assert clock.now() == datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose


def test_system_clock_is_utc() -> None:
    assert SystemClock().now().tzinfo is UTC


async def test_a_periodic_job_keeps_running_after_a_failed_round() -> None:
    rounds: list[int] = []
    third_round = asyncio.Event()

    async def sometimes_fails(_: Any) -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database restarting")
        if len(rounds) == 3:
            third_round.set()

    job = every(0.01, sometimes_fails, name="sweep")
    task: asyncio.Task[None] = asyncio.create_task(job(None))  # type: ignore[arg-type]
    await wait_at_most(5, third_round.wait())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(rounds) >= 3


async def test_a_round_an_infrastructure_hiccup_failed_is_a_warning_anything_else_an_error() -> (
    None
):
    """A database restart is expected now and then: its failed rounds are warnings naming the
    error, and only a failure a retry cannot cure is logged as an error, with its traceback."""
    failures: list[BaseException] = [
        ConnectionError("terminating connection due to administrator command"),
        ValueError("a bug"),
    ]
    done = asyncio.Event()

    async def fails(_: Any) -> None:
        if failures:
            raise failures.pop(0)
        done.set()

    with structlog.testing.capture_logs() as logs:
        task: asyncio.Task[None] = asyncio.create_task(every(0.01, fails, name="sweep")(None))  # type: ignore[arg-type]
        await wait_at_most(5, done.wait())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    hiccup, bug = [entry for entry in logs if entry["event"].startswith("periodic_job.")]
    assert (hiccup["event"], hiccup["log_level"]) == ("periodic_job.retrying", "warning")
    assert "administrator command" in hiccup["error"]
    assert "exc_info" not in hiccup
    assert (bug["event"], bug["log_level"]) == ("periodic_job.failed", "error")


def test_topic_prefix_applies_to_topics_and_consumer_groups() -> None:
    settings = ServiceSettings(
        service_name="cart", database_url="postgresql://x@y/z", topic_prefix="test-1."
    )
    assert settings.topic("orders") == "test-1.orders"
    assert settings.consumer_group == "test-1.orderflow.cart"
