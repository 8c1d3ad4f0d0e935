"""Stock files: ``stock load`` sets figures (never below reserved), the start-up seed only adds
what is missing, and a broken seed file leaves the service running on the stock it has."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from orderflow_chassis.settings import SettingsFileError
from orderflow_fulfillment.domain.allocation import Warehouse
from orderflow_fulfillment.domain.shipments import AnomalyReason
from orderflow_fulfillment.domain.stock import CLOCK_AHEAD_TOLERANCE
from orderflow_fulfillment.domain.stock_file import StockFile, WarehouseEntry
from orderflow_fulfillment.handlers.returns import restock_return
from orderflow_fulfillment.handlers.stock_counts import apply_stock_count
from orderflow_fulfillment.handlers.stock_loads import (
    LoadReport,
    add_missing_stock,
    load_stock,
    seed_stock,
)
from orderflow_fulfillment.handlers.warehouse_reports import record_delivery, record_dispatch
from orderflow_fulfillment.settings import FulfillmentSettings

from services.fulfillment.tests.builders import (
    parcel_delivered,
    parcel_dispatched,
    return_parcel,
    stock_counted,
)
from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import place, place_and_capture


def stock_file(*entries: tuple[str, str, dict[str, int]]) -> StockFile:
    return StockFile(
        warehouses=[
            WarehouseEntry(id=w, name=f"Warehouse {w}", country=c, near=["AT"], stock=s)
            for w, c, s in entries
        ]
    )


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"GEL": 10})
    return fake


async def load_gel(fulfillment: FakeFulfillment, on_hand: int) -> datetime:
    """An operator's load of the EU warehouse's GEL figure, now; when it was made."""
    loaded_at = fulfillment.clock.now()
    async with fulfillment.transactions.begin() as uow:
        await load_stock(stock_file(("EU", "DE", {"GEL": on_hand})), "load:stock.toml", uow)
    return loaded_at


async def test_a_load_creates_warehouses_and_sets_figures(fulfillment: FakeFulfillment) -> None:
    loaded = stock_file(("EU", "DE", {"GEL": 7, "SOCK": 3}), ("US", "US", {"GEL": 4}))

    async with fulfillment.transactions.begin() as uow:
        report = await load_stock(loaded, "load:stock.toml", uow)

    assert report == LoadReport(warehouses=2, figures_set=3)
    assert fulfillment.stock.level("EU", "GEL") == (7, 0)
    assert fulfillment.stock.level("EU", "SOCK") == (3, 0)
    assert fulfillment.stock.level("US", "GEL") == (4, 0)
    assert fulfillment.stock.known_warehouses["US"] == Warehouse("US", "US", frozenset({"AT"}))
    loads = fulfillment.stock.movements_of("load")
    assert {(m.warehouse_id, m.sku, m.on_hand_delta) for m in loads} == {
        ("EU", "GEL", -3),
        ("EU", "SOCK", 3),
        ("US", "GEL", 4),
    }
    assert {(m.reference, m.occurred_at) for m in loads} == {
        ("load:stock.toml", fulfillment.clock.now())
    }


async def test_a_load_never_sets_on_hand_below_what_is_reserved(
    fulfillment: FakeFulfillment,
) -> None:
    await place(fulfillment, {"GEL": 6})

    async with fulfillment.transactions.begin() as uow:
        await load_stock(stock_file(("EU", "DE", {"GEL": 2})), "load:low", uow)

    assert fulfillment.stock.level("EU", "GEL") == (6, 6)


async def test_adding_missing_stock_keeps_every_known_figure(fulfillment: FakeFulfillment) -> None:
    async with fulfillment.transactions.begin() as uow:
        report = await add_missing_stock(
            stock_file(("EU", "FR", {"GEL": 99, "SOCK": 5}), ("US", "US", {"GEL": 4})),
            "seed:package:stock.toml",
            uow,
        )

    assert report == LoadReport(warehouses=2, figures_set=2)
    assert fulfillment.stock.level("EU", "GEL") == (10, 0)
    assert fulfillment.stock.level("EU", "SOCK") == (5, 0)
    assert fulfillment.stock.level("US", "GEL") == (4, 0)
    assert fulfillment.stock.known_warehouses["EU"].country == "DE", "a known warehouse stays"


async def test_the_seed_adds_what_the_file_has_and_the_database_does_not(
    fulfillment: FakeFulfillment,
) -> None:
    read: list[str] = []

    def reader(location: str) -> StockFile:
        read.append(location)
        return stock_file(("EU", "DE", {"GEL": 1, "SOCK": 8}))

    added = await seed_stock(
        fulfillment.transactions,
        settings=FulfillmentSettings(seed_file="package:stock.toml"),
        read_stock_file=reader,
    )

    assert added == 1
    assert read == ["package:stock.toml"]
    assert fulfillment.stock.level("EU", "GEL") == (10, 0)
    assert fulfillment.stock.level("EU", "SOCK") == (8, 0)
    [movement] = fulfillment.stock.movements_of("load")
    assert movement.reference == "seed:package:stock.toml"


async def test_a_seed_file_that_cannot_be_read_changes_nothing_and_does_not_stop_the_service(
    fulfillment: FakeFulfillment,
) -> None:
    def broken(location: str) -> StockFile:
        raise ValueError(f"{location}: not TOML")

    added = await seed_stock(
        fulfillment.transactions,
        settings=FulfillmentSettings(seed_file="/etc/stock.toml"),
        read_stock_file=broken,
    )

    assert added == 0
    assert fulfillment.stock.movements == []
    assert fulfillment.stock.level("EU", "GEL") == (10, 0)


class Restarting:
    """Transactions whose database is restarting: the first ``failures`` begin() fail."""

    def __init__(self, transactions: Any, failures: int) -> None:
        self._transactions = transactions
        self.failures = failures

    def begin(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("the database system is starting up")
        return self._transactions.begin()


async def test_the_seed_waits_for_a_database_that_is_restarting(
    fulfillment: FakeFulfillment,
) -> None:
    # It gave up at the first failure: the SKUs it would have added stayed unknown, and every
    # order for them was answered StockUnavailable until the service restarted.
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    added = await seed_stock(
        cast(Any, Restarting(fulfillment.transactions, failures=3)),
        settings=FulfillmentSettings(seed_file="package:stock.toml"),
        read_stock_file=lambda _: stock_file(("EU", "DE", {"SOCK": 8})),
        sleep=sleep,
    )

    assert added == 1
    assert len(pauses) == 3
    assert fulfillment.stock.level("EU", "SOCK") == (8, 0)


async def test_the_seed_waits_for_a_file_it_cannot_read_yet(fulfillment: FakeFulfillment) -> None:
    # An I/O error (a config volume mounted late, a network volume) was taken for a broken
    # file: the service started without the file's stock, and every order for its SKUs was
    # answered StockUnavailable.
    pauses: list[float] = []
    attempts: list[str] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    def mounted_late(location: str) -> StockFile:
        attempts.append(location)
        if len(attempts) < 3:
            raise FileNotFoundError(2, "No such file or directory", location)
        return stock_file(("EU", "DE", {"SOCK": 8}))

    added = await seed_stock(
        fulfillment.transactions,
        settings=FulfillmentSettings(seed_file="/etc/orderflow/stock.toml"),
        read_stock_file=mounted_late,
        sleep=sleep,
    )

    assert added == 1
    assert len(pauses) == 2
    assert fulfillment.stock.level("EU", "SOCK") == (8, 0)


async def test_a_seed_file_that_never_appears_refuses_the_start_naming_the_setting(
    fulfillment: FakeFulfillment,
) -> None:
    # Waited for without end, a mistyped path kept the service unready for ever; started
    # without it, the service answered every order for the file's SKUs StockUnavailable.
    async def sleep(_: float) -> None:
        return None

    def missing(location: str) -> StockFile:
        raise FileNotFoundError(2, "No such file or directory", location)

    with pytest.raises(SettingsFileError) as refused:
        await seed_stock(
            fulfillment.transactions,
            settings=FulfillmentSettings(seed_file="/etc/orderflow/stokc.toml"),
            read_stock_file=missing,
            sleep=sleep,
        )

    assert "FULFILLMENT_SEED_FILE=/etc/orderflow/stokc.toml cannot be read" in str(refused.value)
    assert fulfillment.stock.movements == []


async def test_a_load_locks_its_stock_up_front_in_the_consumers_order(
    fulfillment: FakeFulfillment,
) -> None:
    # Listed US before EU: locking in the file's order crossed a consumer batch's order
    # (warehouse, then SKU) and deadlocked with it (seen with two instances, one restarting).
    loaded = stock_file(("US", "US", {"SOCK": 4, "GEL": 4}), ("EU", "DE", {"GEL": 7}))

    async with fulfillment.transactions.begin() as uow:
        await add_missing_stock(loaded, "seed:stock.toml", uow)

    [call] = fulfillment.locks.calls
    assert call["skus"] == ["GEL", "SOCK"]  # every warehouse of each, sorted by the database


async def test_a_count_stamped_before_a_load_does_not_undo_the_operators_figure(
    fulfillment: FakeFulfillment,
) -> None:
    # The operator found 10 of the shelf's units damaged and loaded the rest; a count made
    # before that, read after it, put them back on sale (an oversell).
    loaded_at = await load_gel(fulfillment, 2)

    earlier = stock_counted("EU", "GEL", 10, loaded_at - timedelta(minutes=30))
    await apply_stock_count(earlier, fulfillment.unit(earlier))

    assert fulfillment.stock.level("EU", "GEL") == (2, 0)
    [stale] = fulfillment.anomalies.of(AnomalyReason.STALE_COUNT)
    assert stale["detail"]["superseded_at"] == loaded_at.isoformat()
    [level] = await fulfillment.stock.levels(sku="GEL")
    assert level.loaded_at == loaded_at
    later = stock_counted("EU", "GEL", 5, loaded_at + CLOCK_AHEAD_TOLERANCE + timedelta(seconds=1))
    fulfillment.clock.set(later.counted_at)
    await apply_stock_count(later, fulfillment.unit(later))
    assert fulfillment.stock.level("EU", "GEL") == (5, 0)


async def test_a_count_stamped_within_the_hour_after_a_load_may_only_lower_it(
    fulfillment: FakeFulfillment,
) -> None:
    # Review (helper 108): a count made 20 minutes before the load, by a warehouse clock 30
    # minutes ahead (trusted), is stamped 10 minutes after it: applied, it put back the 4 units
    # the operator had binned. Such a count cannot be placed against the load.
    loaded_at = await load_gel(fulfillment, 6)
    fulfillment.clock.set(loaded_at + timedelta(minutes=15))

    higher = stock_counted("EU", "GEL", 10, loaded_at + timedelta(minutes=10))
    await apply_stock_count(higher, fulfillment.unit(higher))
    assert fulfillment.stock.level("EU", "GEL") == (6, 0)
    assert fulfillment.anomalies.reasons() == ["stale_count"]

    lower = stock_counted("EU", "GEL", 5, loaded_at + timedelta(minutes=12))
    await apply_stock_count(lower, fulfillment.unit(lower))
    assert fulfillment.stock.level("EU", "GEL") == (5, 0), "units missing since: applied"


async def test_a_count_replayed_after_its_warehouse_was_loaded_applies(
    fulfillment: FakeFulfillment,
) -> None:
    # The dead letter unknown_warehouse says: load the warehouse, replay the count.
    counted_at = fulfillment.clock.now() - timedelta(minutes=10)
    async with fulfillment.transactions.begin() as uow:
        await load_stock(stock_file(("NO", "NO", {"GEL": 0})), "load:no.toml", uow)

    replayed = stock_counted("NO", "GEL", 9, counted_at)
    await apply_stock_count(replayed, fulfillment.unit(replayed))

    assert fulfillment.stock.level("NO", "GEL") == (9, 0)
    assert fulfillment.anomalies.rows == []


async def test_a_dispatch_stamped_before_a_load_still_takes_its_units_off(
    fulfillment: FakeFulfillment,
) -> None:
    # The load's date is fulfillment's clock, a dispatch's the warehouse's: a warehouse clock
    # a few minutes behind must not make a parcel that left after the load vanish in it.
    _, [request] = await place_and_capture(fulfillment, {"GEL": 4})
    loaded_at = await load_gel(fulfillment, 10)

    dispatched = parcel_dispatched(request.shipment_id, "EU", at=loaded_at - timedelta(minutes=2))
    await record_dispatch(dispatched, fulfillment.unit(dispatched))

    assert fulfillment.stock.level("EU", "GEL") == (6, 0)


async def test_a_restock_stamped_before_a_load_is_in_the_operators_figure(
    fulfillment: FakeFulfillment,
) -> None:
    # Two units came back and went on the shelf; the operator counted them in the load. The
    # parcel's report, read after the load, added them again: two units sold that are not there.
    loaded_at = await load_gel(fulfillment, 12)

    parcel = return_parcel(
        uuid.uuid4(), "EU", [("GEL", 2, "resellable")], at=loaded_at - timedelta(minutes=5)
    )
    await restock_return(parcel, fulfillment.unit(parcel))

    assert fulfillment.stock.level("EU", "GEL") == (12, 0)
    [restock] = fulfillment.stock.movements_of("restock")
    assert (restock.quantity, restock.on_hand_delta) == (2, 0)
    after = return_parcel(
        uuid.uuid4(),
        "EU",
        [("GEL", 1, "resellable")],
        at=loaded_at + CLOCK_AHEAD_TOLERANCE + timedelta(seconds=1),
    )
    fulfillment.clock.set(after.received_at)
    await restock_return(after, fulfillment.unit(after))
    assert fulfillment.stock.level("EU", "GEL") == (13, 0)


async def test_a_restock_stamped_by_a_clock_running_ahead_is_in_the_load_it_preceded(
    fulfillment: FakeFulfillment,
) -> None:
    # Found by review (helper 105): the parcel came back 5 minutes before the load, which
    # counted it, but the warehouse's clock runs 30 minutes ahead of ours (within what is
    # trusted): stamped after the load, its units were added again.
    loaded_at = await load_gel(fulfillment, 12)
    parcel = return_parcel(
        uuid.uuid4(), "EU", [("GEL", 2, "resellable")], at=loaded_at + timedelta(minutes=25)
    )
    await restock_return(parcel, fulfillment.unit(parcel))

    assert fulfillment.stock.level("EU", "GEL") == (12, 0)


async def test_a_count_applied_again_after_a_late_dispatch_report_stays_below_the_load(
    fulfillment: FakeFulfillment,
) -> None:
    # Review (helper 110): the warehouse's clock runs 50 minutes ahead. A count made before
    # the load (stamped after it) lowered on-hand to the load's figure; the late dispatch
    # report moved the parcel before that count, which was applied again in full, above the
    # load: 5 units that had been binned went back on sale.
    _, [request] = await place_and_capture(fulfillment, {"GEL": 5})  # 10 on hand
    start = fulfillment.clock.now()
    delivered = parcel_delivered(request.shipment_id, start + timedelta(minutes=50))
    await record_delivery(delivered, fulfillment.unit(delivered))
    fulfillment.clock.set(start + timedelta(minutes=10))
    loaded_at = await load_gel(fulfillment, 4)
    counted = stock_counted("EU", "GEL", 9, loaded_at + timedelta(minutes=30))
    fulfillment.clock.set(start + timedelta(minutes=15))
    await apply_stock_count(counted, fulfillment.unit(counted))
    assert fulfillment.stock.level("EU", "GEL") == (4, 0)
    late = parcel_dispatched(request.shipment_id, "EU", at=start + timedelta(minutes=35))
    fulfillment.clock.set(start + timedelta(minutes=20))

    await record_dispatch(late, fulfillment.unit(late))

    assert fulfillment.stock.level("EU", "GEL") == (4, 0)
