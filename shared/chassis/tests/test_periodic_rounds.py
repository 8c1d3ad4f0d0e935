"""Periodic jobs: what a round exports for alerting, and a round through a backlog in batches
that one failing item cannot hold back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog.testing
from orderflow_chassis.periodic import every, in_batches
from orderflow_chassis.testing import FakeTransactions
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_chassis.waiting import wait_at_most
from prometheus_client import REGISTRY


def sample(name: str, job: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": "billing", "periodic_job": job})


async def run_until(job: Any, done: asyncio.Event) -> None:
    """Run ``job`` (an ``every``) as the runtime would, in its own task, until ``done``."""
    with structlog.contextvars.bound_contextvars(service="billing"):  # as configure_logging
        task: asyncio.Task[None] = asyncio.create_task(job(None))
    await wait_at_most(5, done.wait())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_job_exports_its_last_success_interval_and_failed_rounds() -> None:
    rounds = 0
    third = asyncio.Event()
    started = time.time()
    successes: list[float] = []

    async def fails_once(_: Any) -> None:
        nonlocal rounds
        rounds += 1
        successes.append(
            sample("orderflow_periodic_job_last_success_timestamp_seconds", "bill") or 0.0
        )
        if rounds == 1:
            raise ValueError("a bug")
        if rounds == 3:
            third.set()

    await run_until(every(0.01, fails_once, name="bill"), third)

    assert sample("orderflow_periodic_job_interval_seconds", "bill") == 0.01
    assert sample("orderflow_periodic_job_failed_rounds_total", "bill") == 1
    assert sample("orderflow_periodic_job_items_skipped_total", "bill") == 0
    at_start, after_failure, after_success = successes
    assert at_start >= started, "its age counts from the start"
    assert after_failure == at_start, "a failed round is no success"
    assert after_success > at_start


async def test_a_job_that_never_succeeds_keeps_its_start_as_last_success() -> None:
    failures = 0
    third_failure = asyncio.Event()

    async def always_fails(_: Any) -> None:
        nonlocal failures
        failures += 1
        if failures == 3:
            third_failure.set()
        raise ConnectionError("the database is gone")

    started = time.time()
    await run_until(every(0.01, always_fails, name="stuck"), third_failure)

    last_success = sample("orderflow_periodic_job_last_success_timestamp_seconds", "stuck") or 0.0
    assert started <= last_success < started + 1, "when the job started"
    assert (sample("orderflow_periodic_job_failed_rounds_total", "stuck") or 0) >= 3


@dataclass
class Backlog:
    """What a job has to do: items, each done once; a fake transaction restores a copy."""

    due: list[str]
    done: list[str] = field(default_factory=list)
    failing: dict[str, Exception] = field(default_factory=dict)


async def round_through(
    transactions: FakeTransactions[Backlog], *, batch_size: int, max_batches: int | None = None
) -> int:
    async def due(uow: UnitOfWork[Backlog], limit: int, skipping: Sequence[str]) -> list[str]:
        return [item for item in uow.repos.due if item not in skipping][:limit]

    async def work(uow: UnitOfWork[Backlog], items: Sequence[str]) -> int:
        for item in items:
            uow.repos.due.remove(item)
            uow.repos.done.append(item)
            if item in uow.repos.failing:
                raise uow.repos.failing[item]
        return len(items)

    return await in_batches(
        transactions, due=due, work=work, batch_size=batch_size, max_batches=max_batches
    )


async def test_an_item_that_keeps_failing_is_skipped_untouched_and_the_rest_done() -> None:
    items = [f"item-{n}" for n in range(7)]
    transactions = FakeTransactions(Backlog(list(items), failing={"item-2": KeyError("a bug")}))

    with structlog.testing.capture_logs() as logs:
        assert await round_through(transactions, batch_size=3) == 6

    assert transactions.repos.due == ["item-2"], "left as it was"
    assert sorted(transactions.repos.done) == sorted(set(items) - {"item-2"})
    events = [(e["event"], e.get("item")) for e in logs]
    assert events == [
        ("periodic_job.batch_failed", None),  # item-0..2, rolled back
        ("periodic_job.item_skipped", "item-2"),  # after item-0 and item-1 alone
    ]
    assert "exc_info" in logs[1]


async def test_each_item_that_fails_alone_is_skipped_and_a_short_last_batch_is_finished() -> None:
    items = [f"item-{n}" for n in range(5)]
    failing: dict[str, Exception] = {"item-0": ValueError("bug"), "item-1": ValueError("bug")}
    transactions = FakeTransactions(Backlog(list(items), failing=failing))

    with structlog.testing.capture_logs() as logs:
        assert await round_through(transactions, batch_size=10) == 3

    assert transactions.repos.due == ["item-0", "item-1"]
    assert [e["item"] for e in logs if e["event"] == "periodic_job.item_skipped"] == [
        "item-0",
        "item-1",
    ]


async def test_a_transient_failure_ends_the_round_and_skips_nothing() -> None:
    items = [f"item-{n}" for n in range(4)]
    failing: dict[str, Exception] = {"item-1": ConnectionError("the database restarts")}
    transactions = FakeTransactions(Backlog(list(items), failing=failing))

    with pytest.raises(ConnectionError):
        await round_through(transactions, batch_size=2)

    assert transactions.repos.due == items
    assert transactions.repos.done == []


async def test_a_round_stops_after_its_batches() -> None:
    transactions = FakeTransactions(Backlog([f"item-{n}" for n in range(10)]))

    assert await round_through(transactions, batch_size=3, max_batches=2) == 6
    assert len(transactions.repos.due) == 4
