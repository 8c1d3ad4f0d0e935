"""Seeding the catalog and the rates from files when the service first starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import structlog
from orderflow_chassis.clock import Clock
from orderflow_chassis.database import Connection

from orderflow_cart.adapters.catalog import CatalogRepository, RatesRepository
from orderflow_cart.domain.catalog import parse_catalog_csv
from orderflow_cart.domain.rates import parse_rates_json

log = structlog.get_logger(__name__)


def packaged_file(name: str) -> str:
    return (resources.files("orderflow_cart") / "data" / name).read_text(encoding="utf-8")


@dataclass
class ReferenceData:
    """Loads the seed catalog (and rates) when the table is empty, once per process."""

    catalog: CatalogRepository
    rates: RatesRepository
    clock: Clock
    catalog_file: Path | None = None
    rates_file: Path | None = None
    _seeded: bool = field(default=False, init=False)

    def catalog_text(self) -> str:
        if self.catalog_file is not None:
            return self.catalog_file.read_text(encoding="utf-8")
        return packaged_file("catalog.csv")

    def rates_text(self) -> str:
        if self.rates_file is not None:
            return self.rates_file.read_text(encoding="utf-8")
        return packaged_file("rates.json")

    async def ensure_seeded(self, connection: Connection) -> None:
        """Seed an empty catalog and empty rates. Cheap after the first committed success."""
        if self._seeded:
            return
        # Inside a caller's transaction the seed could still be rolled back: remember it only
        # when it was committed here (the start-up job and the HTTP API do that).
        outer_transaction = connection.is_in_transaction()
        async with connection.transaction():
            if await self._missing(connection):
                # Two instances starting together must not both seed.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext('cart.seed'))")
                await self._seed(connection)
        if not outer_transaction:
            self._seeded = True

    async def _missing(self, connection: Connection) -> bool:
        return await self.catalog.is_empty(connection) or await self.rates.is_empty(connection)

    async def _seed(self, connection: Connection) -> None:
        now = self.clock.now()
        if await self.catalog.is_empty(connection):
            products = parse_catalog_csv(self.catalog_text())
            await self.catalog.replace(connection, products, now)
            log.info("catalog.seeded", products=len(products))
        if await self.rates.is_empty(connection):
            rates = parse_rates_json(self.rates_text())
            await self.rates.replace(connection, rates, now)
            log.info("rates.seeded", currencies=[r.currency.value for r in rates])
