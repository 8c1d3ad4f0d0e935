"""The console's background jobs besides the dead-letter reader: the probes (lag, services,
replay outcomes) and the invariant monitor. Each updates :class:`LiveStatus` and says when
something a page shows has changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import structlog
from orderflow_chassis.errors import describe_error
from orderflow_chassis.unit_of_work import DatabaseTransactions, Transactions

from orderflow_ops.console import metrics, monitor
from orderflow_ops.console.probes import LagProbe, probe_all
from orderflow_ops.console.replay import track_outcomes
from orderflow_ops.console.web_common import Console

log = structlog.get_logger(__name__)

Job = Callable[[Transactions[Any]], Awaitable[None]]


def _pool(transactions: Transactions[Any]) -> asyncpg.Pool:
    if not isinstance(transactions, DatabaseTransactions):
        raise TypeError("the console's jobs run on the runtime's database transactions")
    return transactions.pool


def probe_job(console: Console) -> Job:
    settings, options = console.settings, console.console_settings
    services = options.service_urls()

    async def run(transactions: Transactions[Any]) -> None:
        pool = _pool(transactions)
        lag = LagProbe(settings.kafka_bootstrap_servers, f"{settings.topic_prefix}orderflow.")
        timeout = httpx.Timeout(options.service_timeout_s)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                while True:
                    await probe_all(console.status, lag, client, services)
                    try:
                        changed = await track_outcomes(
                            pool, settings.db_schema, console.status.lag, datetime.now(UTC)
                        )
                        if changed:
                            console.status.changes.bump()
                    except Exception as error:
                        log.warning("console.replay_outcomes_failed", error=describe_error(error))
                    attention = console.status.attention
                    if attention.watched():
                        await asyncio.sleep(options.probe_interval_s)
                    else:  # only pages show the probes: slowly until someone looks
                        await attention.wait(options.unwatched_probe_interval_s)
        finally:
            await lag.close()

    run.__name__ = "console-probes"
    return run


def monitor_job(console: Console) -> Job:
    settings, options = console.settings, console.console_settings
    deadlines = options.deadlines()

    async def run(transactions: Transactions[Any]) -> None:
        pool = _pool(transactions)
        status = console.status
        while True:
            now = datetime.now(UTC)
            try:
                found = await monitor.evaluate(pool, settings.db_schema, deadlines, now)
            except Exception as error:
                if status.monitor_stale_since is None:
                    status.monitor_stale_since = now
                log.warning("console.monitor_failed", error=describe_error(error))
            else:
                metrics.record(found)
                before = status.violations
                status.violations, status.monitor_stale_since = found, None
                if before is None or (before.counts, before.examples) != (
                    found.counts,
                    found.examples,
                ):
                    status.changes.bump()
            await asyncio.sleep(options.monitor_interval_s)

    run.__name__ = "console-invariant-monitor"
    return run
