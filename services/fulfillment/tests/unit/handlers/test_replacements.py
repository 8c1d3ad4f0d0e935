"""Warranty replacements ship at no charge at once, or wait for stock and ship when it comes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import structlog.testing
from orderflow_contracts.events import (
    FulfillmentRequested,
    ShipmentDelivered,
    ShipmentDispatched,
    ShipmentLine,
    StockReserved,
)
from orderflow_fulfillment.domain.shipments import AnomalyReason, ShipmentStatus
from orderflow_fulfillment.handlers.replacements import (
    retry_backordered_replacements,
    ship_replacement,
)
from orderflow_fulfillment.handlers.returns import restock_return
from orderflow_fulfillment.handlers.stock_counts import apply_stock_count
from orderflow_fulfillment.handlers.warehouse_reports import record_delivery, record_dispatch

from services.fulfillment.tests.builders import (
    WAREHOUSE_TIME,
    address,
    parcel_delivered,
    parcel_dispatched,
    replacement_requested,
    return_parcel,
    stock_counted,
)
from services.fulfillment.tests.fake_stock import StockRow
from services.fulfillment.tests.fakes import FakeFulfillment, InMemoryOrders
from services.fulfillment.tests.unit.handlers.steps import SETTINGS, place_and_capture

CLAIM_JOURNEY = "journey-claim"


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    fake.stock.add_warehouse("EU", "DE", {"SPLINT": 2}, near=["FR"])
    return fake


async def request_replacement(
    fulfillment: FakeFulfillment, order_id: uuid.UUID, claim_id: str, lines: dict[str, int]
) -> None:
    requested = replacement_requested(order_id, claim_id, lines, country="FR")
    unit = fulfillment.unit(requested, correlation_id=CLAIM_JOURNEY)
    await ship_replacement(requested, unit, settings=SETTINGS)


async def retry(fulfillment: FakeFulfillment, **bounds: int) -> int:
    """The job's next round, a tick after what came before."""
    fulfillment.clock.advance(timedelta(seconds=SETTINGS.backorder_retry_interval_s))
    return await retry_backordered_replacements(
        fulfillment.transactions, settings=SETTINGS, **bounds
    )


async def test_a_replacement_is_reserved_and_requested_at_once_without_a_payment(
    fulfillment: FakeFulfillment,
) -> None:
    order_id, [original] = await place_and_capture(fulfillment, {"SPLINT": 1})

    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})

    [_, replacement] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert replacement.order_id == order_id
    assert replacement.shipment_id != original.shipment_id
    assert replacement.replacement is True
    assert replacement.warranty_claim_id == "claim-1"
    assert replacement.shipping_service == "express"
    assert replacement.ship_to == address("FR")
    assert replacement.lines == [ShipmentLine(sku="SPLINT", name="Product SPLINT", quantity=1)]
    assert fulfillment.emitted.envelopes[-1].correlation_id == CLAIM_JOURNEY
    assert len(fulfillment.emitted.of_type(StockReserved)) == 1, "nothing to capture"
    assert fulfillment.stock.level("EU", "SPLINT") == (2, 2)
    shipment = fulfillment.shipments.shipments[replacement.shipment_id]
    assert (shipment.status, shipment.claim_id) == (ShipmentStatus.REQUESTED, "claim-1")
    assert fulfillment.shipments.stamps[replacement.shipment_id] == {
        "requested_at": fulfillment.clock.now()
    }
    stored = fulfillment.replacements.replacements[order_id, "claim-1"]
    assert (stored.status, stored.record.attempts) == ("requested", 1)


async def test_a_claim_requested_twice_ships_one_replacement(fulfillment: FakeFulfillment) -> None:
    order_id = uuid.uuid4()

    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})
    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})

    assert len(fulfillment.emitted.of_type(FulfillmentRequested)) == 1
    assert fulfillment.stock.level("EU", "SPLINT") == (2, 1)
    # An order fulfillment never saw: the SKU is the name (nothing better is known).
    [request] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert request.lines == [ShipmentLine(sku="SPLINT", name="SPLINT", quantity=1)]


async def test_a_replacement_without_stock_waits_and_ships_once_stock_is_back(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = uuid.uuid4()

    await request_replacement(fulfillment, order_id, "claim-9", {"SPLINT": 3})

    assert fulfillment.emitted.envelopes == []
    [backordered] = fulfillment.anomalies.of(AnomalyReason.REPLACEMENT_BACKORDERED)
    assert backordered["detail"] == {
        "claim_id": "claim-9",
        "short_lines": [{"sku": "SPLINT", "requested": 3, "available": 2}],
    }
    assert await retry(fulfillment) == 0
    assert len(fulfillment.anomalies.rows) == 1, "a retry's shortage is not recorded again"
    stored = fulfillment.replacements.replacements[order_id, "claim-9"]
    assert (stored.status, stored.record.attempts) == ("awaiting_stock", 2)

    fulfillment.stock.rows["EU", "SPLINT"].on_hand = 5  # a restock or a count came in

    assert await retry(fulfillment) == 1
    [request] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert (request.replacement, request.warranty_claim_id) == (True, "claim-9")
    assert request.lines == [ShipmentLine(sku="SPLINT", name="SPLINT", quantity=3)]
    [envelope] = fulfillment.emitted.envelopes
    assert (envelope.correlation_id, envelope.causation_id) == (CLAIM_JOURNEY, None)
    assert fulfillment.stock.level("EU", "SPLINT") == (5, 3)
    assert fulfillment.replacements.replacements[order_id, "claim-9"].status == "requested"
    assert await retry(fulfillment) == 0, "a requested replacement is not retried"


async def backorders_of_a_sku_that_never_comes_then_one_short_of_splints(
    fulfillment: FakeFulfillment,
) -> uuid.UUID:
    """Three replacements wait for GONE (discontinued), then one for 3 splints (2 in stock);
    returns the order of the last."""
    fulfillment.stock.rows["EU", "GONE"] = StockRow(0)
    for n in range(3):
        await request_replacement(fulfillment, uuid.uuid4(), f"gone-{n}", {"GONE": 1})
    order_id = uuid.uuid4()
    await request_replacement(fulfillment, order_id, "splints", {"SPLINT": 3})
    assert fulfillment.emitted.of_type(FulfillmentRequested) == []
    return order_id


def attempts(fulfillment: FakeFulfillment) -> dict[str, int]:
    stored = fulfillment.replacements.replacements.values()
    return {s.record.claim_id: s.record.attempts for s in stored}


async def test_replacements_that_can_never_ship_do_not_hold_back_a_later_one(
    fulfillment: FakeFulfillment,
) -> None:
    order_id = await backorders_of_a_sku_that_never_comes_then_one_short_of_splints(fulfillment)
    fulfillment.stock.rows["EU", "SPLINT"].on_hand = 5  # more came, unannounced

    for _ in range(3):
        await retry(fulfillment, batch_size=2)  # fewer than wait

    [request] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert (request.order_id, request.warranty_claim_id) == (order_id, "splints")
    assert attempts(fulfillment) == {"gone-0": 4, "gone-1": 4, "gone-2": 4, "splints": 2}


async def test_when_a_round_cannot_try_them_all_they_take_turns_least_recently_tried_first(
    fulfillment: FakeFulfillment,
) -> None:
    await backorders_of_a_sku_that_never_comes_then_one_short_of_splints(fulfillment)

    tried: list[set[str]] = []
    for _ in range(4):
        before = attempts(fulfillment)
        await retry(fulfillment, batch_size=1, max_batches=1)
        tried.append({claim for claim, n in attempts(fulfillment).items() if n > before[claim]})

    assert tried == [{"gone-0"}, {"gone-1"}, {"gone-2"}, {"splints"}]


@pytest.mark.parametrize("stock_comes_by", ["count", "return"])
async def test_stock_that_comes_for_a_sku_has_its_replacements_tried_first(
    fulfillment: FakeFulfillment, stock_comes_by: str
) -> None:
    order_id = await backorders_of_a_sku_that_never_comes_then_one_short_of_splints(fulfillment)
    await retry(fulfillment, batch_size=1, max_batches=1)  # gone-0: the splints' turn is far

    if stock_comes_by == "count":
        counted = stock_counted("EU", "SPLINT", 5, WAREHOUSE_TIME)
        await apply_stock_count(counted, fulfillment.unit(counted))
    else:
        parcel = return_parcel(uuid.uuid4(), "EU", [("SPLINT", 3, "resellable")])
        await restock_return(parcel, fulfillment.unit(parcel))
    assert fulfillment.emitted.of_type(FulfillmentRequested) == [], "not in the consumer"

    assert await retry(fulfillment, batch_size=1, max_batches=1) == 1
    [request] = fulfillment.emitted.of_type(FulfillmentRequested)
    assert (request.order_id, request.warranty_claim_id) == (order_id, "splints")


async def test_a_replacement_whose_retry_keeps_failing_holds_back_no_other(
    fulfillment: FakeFulfillment, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = await backorders_of_a_sku_that_never_comes_then_one_short_of_splints(fulfillment)
    poisoned = next(
        order for order, claim in fulfillment.replacements.replacements if claim == "gone-1"
    )
    fulfillment.stock.rows["EU", "SPLINT"].on_hand = 5
    fulfillment.stock.rows["EU", "GONE"].on_hand = 2  # after all: for two of the three
    line_names = InMemoryOrders.line_names

    async def failing_for_gone_1(self: InMemoryOrders, wanted: uuid.UUID) -> dict[str, str]:
        if wanted == poisoned:
            raise KeyError("a row the code cannot read")
        return await line_names(self, wanted)

    monkeypatch.setattr(InMemoryOrders, "line_names", failing_for_gone_1)

    with structlog.testing.capture_logs() as logs:
        assert await retry(fulfillment, batch_size=10) == 3

    requests = fulfillment.emitted.of_type(FulfillmentRequested)
    assert sorted(r.warranty_claim_id or "" for r in requests) == ["gone-0", "gone-2", "splints"]
    assert order_id in {r.order_id for r in requests}
    [skipped] = [e for e in logs if e["event"] == "periodic_job.item_skipped"]
    assert skipped["item"] == f"{poisoned}/gone-1"
    stored = fulfillment.replacements.replacements[poisoned, "gone-1"]
    assert (stored.status, stored.record.attempts) == ("awaiting_stock", 1), "left as it was"
    assert fulfillment.stock.level("EU", "GONE") == (2, 2), "its reservation undone"


async def test_a_replacements_reports_are_published_in_its_claims_journey(
    fulfillment: FakeFulfillment,
) -> None:
    # Its request carried the claim's correlation id (the warehouse echoes it), but its
    # dispatch and delivery carried the order's checkout's: the claim's trail was split.
    order_id, _ = await place_and_capture(fulfillment, {"SPLINT": 1})
    await request_replacement(fulfillment, order_id, "claim-1", {"SPLINT": 1})
    [_, replacement] = fulfillment.emitted.of_type(FulfillmentRequested)

    dispatched = parcel_dispatched(replacement.shipment_id, "EU", "REPL-1").model_copy(
        update={"dispatched_at": fulfillment.clock.now()}
    )
    await record_dispatch(dispatched, fulfillment.unit(dispatched))
    delivered = parcel_delivered(replacement.shipment_id, fulfillment.clock.now())
    await record_delivery(delivered, fulfillment.unit(delivered))

    journeys = {
        envelope.event_type: envelope.correlation_id
        for envelope in fulfillment.emitted.envelopes
        if envelope.event_type in (ShipmentDispatched.event_type, ShipmentDelivered.event_type)
    }
    assert journeys == {
        ShipmentDispatched.event_type: CLAIM_JOURNEY,
        ShipmentDelivered.event_type: CLAIM_JOURNEY,
    }
