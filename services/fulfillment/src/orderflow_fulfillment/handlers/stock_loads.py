"""Warehouses and on-hand figures from a stock file: loaded by ops (``stock load``), and the
shipped file seeded at start for what the database does not know yet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from orderflow_chassis.errors import describe_error, is_transient
from orderflow_chassis.retry import Backoff, retrying
from orderflow_chassis.settings import SettingsFileError
from orderflow_chassis.unit_of_work import Transactions, UnitOfWork

from orderflow_fulfillment.domain.stock_file import StockFile
from orderflow_fulfillment.handlers.replacements import retry_replacements_first
from orderflow_fulfillment.ports import FulfillmentRepositories, StockFileReader
from orderflow_fulfillment.settings import FulfillmentSettings

log = structlog.get_logger(__name__)

_SEED_BACKOFF = Backoff(attempts=None, initial_delay_s=0.5, max_delay_s=5.0)
# About a minute for a volume mounted late; then the file is refused, naming the setting.
_SEED_FILE_READS = Backoff(attempts=15, initial_delay_s=0.5, max_delay_s=5.0)


def _is_os_error(error: BaseException) -> bool:
    return isinstance(error, OSError)


@dataclass(frozen=True)
class LoadReport:
    warehouses: int
    figures_set: int


async def load_stock(
    stock_file: StockFile, reference: str, uow: UnitOfWork[FulfillmentRepositories]
) -> LoadReport:
    """Create or update every warehouse of the file and set its figures: on-hand becomes the
    file's figure, but never less than what is reserved (that would oversell)."""
    return await _apply(stock_file, reference, uow, only_missing=False)


async def add_missing_stock(
    stock_file: StockFile, reference: str, uow: UnitOfWork[FulfillmentRepositories]
) -> LoadReport:
    """Add the warehouses and SKUs of the file not known yet; never change a known figure."""
    return await _apply(stock_file, reference, uow, only_missing=True)


async def seed_stock(
    transactions: Transactions[FulfillmentRepositories],
    *,
    settings: FulfillmentSettings,
    read_stock_file: StockFileReader,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Once at start: add what the seed file has and the database does not. A broken file
    (not TOML, not a stock file) is logged, not fatal: the service runs on the stock it has. A
    database that is unreachable or restarting is waited for: given up on, the file's SKUs
    would be unavailable to every order until a restart, and its warehouses' reports
    dead-lettered. A file that cannot be read (a volume not mounted yet, an I/O error) is
    waited for about a minute, then the service refuses to start, naming the setting: started
    without it, it answered orders for the file's SKUs StockUnavailable. Returns the figures
    set."""
    location = settings.seed_file

    def on_retry(_: int, error: BaseException, delay: float) -> None:
        log.warning(
            "fulfillment.seed_retry", error=describe_error(error), retry_in_s=round(delay, 2)
        )

    try:
        async for attempt in retrying(
            _SEED_FILE_READS, retry_if=_is_os_error, on_retry=on_retry, sleep=sleep
        ):
            with attempt:
                stock_file = read_stock_file(location)
    except OSError as error:
        raise SettingsFileError(
            f"FULFILLMENT_SEED_FILE={location} cannot be read ({describe_error(error)}); "
            "fix the path or the volume, or set it empty to start without a seed"
        ) from error
    except Exception:
        log.exception("fulfillment.seed_failed", seed_file=location)
        return 0
    try:
        async for attempt in retrying(
            _SEED_BACKOFF, retry_if=is_transient, on_retry=on_retry, sleep=sleep
        ):
            with attempt:
                async with transactions.begin() as uow:
                    report = await add_missing_stock(stock_file, f"seed:{location}", uow)
    except Exception:
        log.exception("fulfillment.seed_failed", seed_file=location)
        return 0
    log.info(
        "fulfillment.seeded",
        seed_file=location,
        warehouses=report.warehouses,
        new_figures=report.figures_set,
    )
    return report.figures_set


async def _apply(
    stock_file: StockFile,
    reference: str,
    uow: UnitOfWork[FulfillmentRepositories],
    *,
    only_missing: bool,
) -> LoadReport:
    # The stock it may move, up front and in the consumers' lock order (adapters/lock_ahead):
    # a file lists its warehouses in any order, and a load (a restarted instance's start-up
    # seed among them) that locked them in the file's order deadlocked with a batch.
    skus = {sku for entry in stock_file.warehouses for sku in entry.stock}
    await uow.repos.locks.lock_ahead(skus=skus)
    figures = 0
    for entry in stock_file.warehouses:
        applied = await uow.repos.stock.load(
            entry, only_missing=only_missing, at=uow.now, reference=reference
        )
        figures += len(applied)
    if figures:
        await retry_replacements_first(uow, skus)
    return LoadReport(len(stock_file.warehouses), figures)
