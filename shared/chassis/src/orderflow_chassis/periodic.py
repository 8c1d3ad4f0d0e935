"""Background jobs that run every N seconds (expiries, sweeps) inside a service, and
:func:`in_batches`, the shape of a round that works through a backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import structlog

from orderflow_chassis import metrics
from orderflow_chassis.errors import describe_error, is_transient
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def every(
    interval_s: float, job: Callable[[T], Awaitable[object]], *, name: str
) -> Callable[[T], Awaitable[None]]:
    """Run ``job`` now and then every ``interval_s`` seconds until the service stops.

    ``job`` gets what the runtime gives background jobs: the service's transactions, from
    which each batch opens its own unit of work. A failing round is logged and retried at the
    next tick: a database restart must not stop expiries for good. A failure an infrastructure
    hiccup explains (:func:`~orderflow_chassis.errors.is_transient`) is a warning naming it;
    any other is an error with its traceback. Each round should do its work in its own
    transaction(s) through the outbox, so a crash mid-round loses nothing.

    Every line a round logs carries ``job``. The round is also exported (``orderflow_periodic_
    job_*``, labelled with the service the process logs as and the job's name): when the last
    successful round ended, the interval, and failed rounds, so a job that stopped succeeding
    (failing, or stuck in a round) can be alerted on.
    """

    async def run(argument: T) -> None:
        with structlog.contextvars.bound_contextvars(job=name):
            service, _ = _labels()
            metrics.PERIODIC_INTERVAL.labels(service, name).set(interval_s)
            # Until a round succeeds, its age counts from the start; the counters exist at 0.
            last_success = metrics.PERIODIC_LAST_SUCCESS.labels(service, name)
            last_success.set_to_current_time()
            failed_rounds = metrics.PERIODIC_FAILED_ROUNDS.labels(service, name)
            metrics.PERIODIC_ITEMS_SKIPPED.labels(service, name)
            while True:
                try:
                    await job(argument)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    failed_rounds.inc()
                    if is_transient(error):
                        log.warning(
                            "periodic_job.retrying",
                            job=name,
                            error=describe_error(error),
                            retry_in_s=interval_s,
                        )
                    else:
                        log.exception("periodic_job.failed", job=name)
                else:
                    last_success.set_to_current_time()
                await asyncio.sleep(interval_s)

    run.__name__ = name
    return run


async def in_batches(
    transactions: Transactions[R],
    *,
    due: Callable[[UnitOfWork[R], int, Sequence[T]], Awaitable[Sequence[T]]],
    work: Callable[[UnitOfWork[R], Sequence[T]], Awaitable[int]],
    batch_size: int,
    max_batches: int | None = None,
    name_of: Callable[[T], str] = str,
) -> int:
    """One round of a job through what is due, a batch per transaction; returns what ``work``
    says it did.

    ``due(uow, limit, skipped)`` lists (and locks) up to ``limit`` items to do, leaving out
    ``skipped``; ``work(uow, items)`` does them in that transaction. The round ends with a
    batch smaller than ``batch_size`` or after ``max_batches``.

    One item that keeps failing must not hold back the others, round after round. A batch
    that fails for a reason that is not transient is rolled back and its items are done again
    one per transaction (``due`` with a limit of 1, so each is listed and locked afresh) until
    one fails alone: that one is logged with ``name_of(item)`` and its traceback, counted,
    left out for the rest of the round (untouched: its transaction rolled back) and tried
    again next round. A transient failure ends the round: :func:`every` retries at the next
    tick.
    """
    done = 0
    skipped: list[T] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        items: Sequence[T] = ()
        try:
            async with transactions.begin() as uow:
                items = await due(uow, batch_size, skipped)
                did = await work(uow, items)
        except Exception as error:
            if is_transient(error) or not items:
                raise
            log.warning("periodic_job.batch_failed", items=len(items), error=describe_error(error))
            done += await _one_at_a_time(transactions, due, work, len(items), skipped, name_of)
            continue  # with a full batch again, leaving out the item skipped
        done += did
        if len(items) < batch_size:
            break
    return done


async def _one_at_a_time(
    transactions: Transactions[R],
    due: Callable[[UnitOfWork[R], int, Sequence[T]], Awaitable[Sequence[T]]],
    work: Callable[[UnitOfWork[R], Sequence[T]], Awaitable[int]],
    count: int,
    skipped: list[T],
    name_of: Callable[[T], str],
) -> int:
    """Up to ``count`` items, one per transaction, until one fails alone (added to
    ``skipped``)."""
    done = 0
    for _ in range(count):
        items: Sequence[T] = ()
        try:
            async with transactions.begin() as uow:
                items = await due(uow, 1, skipped)
                did = await work(uow, items)
        except Exception as error:
            if is_transient(error) or not items:
                raise
            item_skipped(name_of(items[0]))
            skipped.append(items[0])
            break
        if not items:
            break
        done += did
    return done


def item_skipped(item: str) -> None:
    """Log (with the exception being handled) and count an item a round leaves out."""
    service, job = _labels()
    log.exception("periodic_job.item_skipped", job=job, item=item)
    metrics.PERIODIC_ITEMS_SKIPPED.labels(service, job).inc()


def _labels() -> tuple[str, str]:
    """The service this process logs as (``configure_logging`` binds it) and the running
    job (``every`` binds it): what the job's log lines carry, and its metrics' labels."""
    context = structlog.contextvars.get_contextvars()
    return str(context.get("service", "unknown")), str(context.get("job", "unknown"))
