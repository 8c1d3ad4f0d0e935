"""Reading stock files (the packaged seed or any path) and applying them to the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from orderflow_chassis.database import Connection

from orderflow_fulfillment.adapters.stock_repository import StockRepository
from orderflow_fulfillment.domain.stock_file import StockFile

PACKAGE_PREFIX = "package:"


def read_stock_file(location: str) -> StockFile:
    """``package:NAME`` is a file shipped in orderflow_fulfillment/data; anything else a path."""
    if location.startswith(PACKAGE_PREFIX):
        name = location.removeprefix(PACKAGE_PREFIX)
        text = (resources.files("orderflow_fulfillment") / "data" / name).read_text("utf-8")
    else:
        text = Path(location).read_text("utf-8")
    return StockFile.from_toml(text)


@dataclass(frozen=True)
class LoadReport:
    warehouses: int
    figures_set: int


async def apply_stock_file(
    connection: Connection,
    schema: str,
    stock_file: StockFile,
    *,
    only_missing: bool,
    at: datetime,
    reference: str,
) -> LoadReport:
    """One transaction: every warehouse of the file, and its figures (see
    :meth:`StockRepository.load` for what ``only_missing`` keeps)."""
    repository = StockRepository(connection, schema)
    figures = 0
    async with connection.transaction():
        for entry in stock_file.warehouses:
            applied = await repository.load(
                entry, only_missing=only_missing, at=at, reference=reference
            )
            figures += len(applied)
    return LoadReport(len(stock_file.warehouses), figures)
