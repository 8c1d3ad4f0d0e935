"""Seeding the catalog and the rates when the service first meets empty tables.

Checkouts and the HTTP API seed on first use too, so a checkout arriving before the start-up
job still sees the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from orderflow_chassis.errors import is_transient
from orderflow_chassis.retry import Backoff, retrying
from orderflow_chassis.unit_of_work import Transactions

from orderflow_cart.domain.catalog import parse_catalog_csv
from orderflow_cart.domain.rates import parse_rates_json
from orderflow_cart.ports import CartRepositories, CartUnit, SeedSource

log = structlog.get_logger(__name__)

# The start-up seed waits for the database as long as it takes, pausing up to 5 s.
_START_UP_BACKOFF = Backoff(attempts=None, initial_delay_s=0.5, max_delay_s=5.0)


@dataclass
class ReferenceData:
    """The seed source, and whether this process has seen a seed committed (then checking
    again is skipped)."""

    source: SeedSource
    seeded: bool = False


async def ensure_seeded(uow: CartUnit, *, reference_data: ReferenceData) -> None:
    """Seed an empty catalog and empty rates in ``uow``'s transaction."""
    if reference_data.seeded:
        return
    catalog, rates = uow.repos.catalog, uow.repos.rates
    if not (await catalog.is_empty() or await rates.is_empty()):
        return
    await catalog.lock_for_seeding()
    if await catalog.is_empty():
        products = parse_catalog_csv(reference_data.source.catalog_text())
        await catalog.replace(products, uow.now)
        log.info("catalog.seeded", products=len(products))
    if await rates.is_empty():
        loaded = parse_rates_json(reference_data.source.rates_text())
        await rates.replace(loaded, uow.now)
        log.info("rates.seeded", currencies=[r.currency.value for r in loaded])


async def seed_reference_data(
    transactions: Transactions[CartRepositories], *, reference_data: ReferenceData
) -> None:
    """Seed in a transaction of its own; once committed, this process stops checking."""
    if reference_data.seeded:
        return
    async with transactions.begin() as uow:
        await ensure_seeded(uow, reference_data=reference_data)
    reference_data.seeded = True


async def seed_at_start(
    transactions: Transactions[CartRepositories], *, reference_data: ReferenceData
) -> None:
    """The start-up job: seed, retried while the database is unreachable."""

    def on_retry(_: int, error: BaseException, delay: float) -> None:
        log.warning("reference_data.seed_failed", error=str(error), retry_in_s=round(delay, 2))

    async for attempt in retrying(_START_UP_BACKOFF, retry_if=is_transient, on_retry=on_retry):
        with attempt:
            await seed_reference_data(transactions, reference_data=reference_data)
