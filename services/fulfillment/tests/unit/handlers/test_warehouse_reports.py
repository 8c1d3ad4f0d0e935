"""Parcel reports: stock leaves once, the last delivery completes the order, and every report
that does not fit is recorded without changing what it should not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_contracts.events import (
    FulfillmentRequested,
    LineQuantity,
    OrderCompleted,
    ShipmentDelivered,
    ShipmentDispatched,
)
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.handlers.stock_counts import apply_stock_count
from orderflow_fulfillment.handlers.warehouse_reports import record_delivery, record_dispatch

from services.fulfillment.tests.builders import (
    WAREHOUSE_TIME,
    parcel_delivered,
    parcel_dispatched,
    stock_counted,
)
from services.fulfillment.tests.fakes import FakeFulfillment
from services.fulfillment.tests.unit.handlers.steps import ORDER_JOURNEY, place, place_and_capture


@pytest.fixture
def fulfillment() -> FakeFulfillment:
    fake = FakeFulfillment()
    # Orders are placed and requested just before the warehouse's times: a report stamped
    # long before its shipment was requested is impossible (``clock_behind``).
    fake.clock.set(WAREHOUSE_TIME - timedelta(minutes=5))
    fake.stock.add_warehouse("EU", "DE", {"SPIKY": 5})
    fake.stock.add_warehouse("US", "US", {"SPLINT": 3})
    return fake


async def dispatch(
    fulfillment: FakeFulfillment, shipment_id: uuid.UUID, warehouse_id: str, tracking: str = "T-1"
) -> None:
    report = parcel_dispatched(shipment_id, warehouse_id, tracking)
    await record_dispatch(report, fulfillment.unit(report, correlation_id="journey-warehouse"))


async def deliver(fulfillment: FakeFulfillment, shipment_id: uuid.UUID) -> None:
    report = parcel_delivered(shipment_id, WAREHOUSE_TIME + timedelta(days=1))
    fulfillment.clock.set(max(fulfillment.clock.now(), report.delivered_at))
    await record_delivery(report, fulfillment.unit(report, correlation_id="journey-warehouse"))


async def dispatch_stamped_1970(fulfillment: FakeFulfillment, shipment_id: uuid.UUID) -> None:
    """A dispatch report stamped long before any request: an impossible time."""
    report = parcel_dispatched(shipment_id, "EU", "T-1970").model_copy(
        update={"dispatched_at": datetime(1970, 1, 2, tzinfo=UTC)}
    )
    await record_dispatch(report, fulfillment.unit(report))


async def count_spiky(fulfillment: FakeFulfillment, on_hand: int, counted_at: datetime) -> None:
    counted = stock_counted("EU", "SPIKY", on_hand, counted_at)
    await apply_stock_count(counted, fulfillment.unit(counted))


async def one_requested_shipment(fulfillment: FakeFulfillment) -> FulfillmentRequested:
    _, [request] = await place_and_capture(fulfillment, {"SPIKY": 2})
    return request


async def test_a_dispatch_takes_the_units_off_the_shelf_and_is_published(
    fulfillment: FakeFulfillment,
) -> None:
    request = await one_requested_shipment(fulfillment)

    await dispatch(fulfillment, request.shipment_id, "EU", tracking="DHL-42")

    [dispatched] = fulfillment.emitted.of_type(ShipmentDispatched)
    assert (dispatched.order_id, dispatched.shipment_id) == (request.order_id, request.shipment_id)
    assert (dispatched.carrier, dispatched.tracking_number) == ("DHL", "DHL-42")
    assert dispatched.dispatched_at == WAREHOUSE_TIME
    assert fulfillment.emitted.envelopes[-1].correlation_id == ORDER_JOURNEY
    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    [movement] = fulfillment.stock.movements_of("dispatch")
    assert (movement.quantity, movement.reference) == (2, str(request.shipment_id))
    shipment = fulfillment.shipments.shipments[request.shipment_id]
    assert (shipment.status, shipment.tracking_number) == (ShipmentStatus.DISPATCHED, "DHL-42")
    assert fulfillment.anomalies.rows == []


async def test_the_same_dispatch_reported_again_moves_stock_once(
    fulfillment: FakeFulfillment,
) -> None:
    request = await one_requested_shipment(fulfillment)

    await dispatch(fulfillment, request.shipment_id, "EU", tracking="DHL-42")
    await dispatch(fulfillment, request.shipment_id, "EU", tracking="DHL-42")
    await dispatch(fulfillment, request.shipment_id, "EU", tracking="UPS-7")

    assert len(fulfillment.emitted.of_type(ShipmentDispatched)) == 1
    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    assert fulfillment.shipments.shipments[request.shipment_id].tracking_number == "DHL-42"
    assert fulfillment.anomalies.reasons() == ["duplicate_dispatch", "conflicting_dispatch"]
    conflicting = fulfillment.anomalies.rows[1]
    assert conflicting["detail"]["known_tracking_number"] == "DHL-42"
    assert conflicting["detail"]["reported_tracking_number"] == "UPS-7"


async def test_a_dispatch_from_another_warehouse_changes_nothing(
    fulfillment: FakeFulfillment,
) -> None:
    request = await one_requested_shipment(fulfillment)

    await dispatch(fulfillment, request.shipment_id, "US")

    assert fulfillment.emitted.of_type(ShipmentDispatched) == []
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 2)
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.WAREHOUSE_MISMATCH)
    assert (anomaly["warehouse_id"], anomaly["shipment_id"]) == ("US", request.shipment_id)


async def test_reports_of_unknown_or_unrequested_shipments_change_nothing(
    fulfillment: FakeFulfillment,
) -> None:
    stranger = uuid.uuid4()
    await dispatch(fulfillment, stranger, "EU")
    await deliver(fulfillment, stranger)
    order_id = await place(fulfillment, {"SPIKY": 1})  # reserved, not paid
    [unpaid] = fulfillment.shipments.of_order(order_id)
    await dispatch(fulfillment, unpaid.shipment_id, "EU")

    assert fulfillment.emitted.of_type(ShipmentDispatched) == []
    assert fulfillment.emitted.of_type(ShipmentDelivered) == []
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 1)
    assert fulfillment.anomalies.reasons() == [
        "unknown_shipment",
        "unknown_shipment",
        "shipment_not_requested",
    ]
    assert fulfillment.anomalies.rows[0]["warehouse_id"] == "EU"
    assert fulfillment.anomalies.rows[1]["shipment_id"] == stranger


async def test_the_last_delivery_of_an_order_completes_it(fulfillment: FakeFulfillment) -> None:
    order_id, requests = await place_and_capture(fulfillment, {"SPIKY": 1, "SPLINT": 1})
    for request in requests:
        await dispatch(fulfillment, request.shipment_id, request.warehouse_id)

    await deliver(fulfillment, requests[0].shipment_id)
    assert fulfillment.emitted.of_type(OrderCompleted) == []
    assert fulfillment.orders.status(order_id) is OrderStatus.FULFILLING
    await deliver(fulfillment, requests[1].shipment_id)

    delivered = fulfillment.emitted.of_type(ShipmentDelivered)
    assert [d.shipment_id for d in delivered] == [r.shipment_id for r in requests]
    assert delivered[0].lines == [
        LineQuantity(sku=requests[0].lines[0].sku, quantity=1),
    ]
    assert delivered[0].replacement is False
    [completed] = fulfillment.emitted.of_type(OrderCompleted)
    assert completed.order_id == order_id
    assert fulfillment.emitted.envelopes[-1].correlation_id == ORDER_JOURNEY
    assert fulfillment.orders.status(order_id) is OrderStatus.COMPLETED
    assert fulfillment.orders.orders[order_id].stamps["completed_at"] == fulfillment.clock.now()


async def test_a_delivery_before_its_dispatch_takes_the_units_then_and_invents_no_dispatch(
    fulfillment: FakeFulfillment,
) -> None:
    request = await one_requested_shipment(fulfillment)

    await deliver(fulfillment, request.shipment_id)

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    assert fulfillment.emitted.of_type(ShipmentDispatched) == []
    assert len(fulfillment.emitted.of_type(ShipmentDelivered)) == 1
    assert len(fulfillment.emitted.of_type(OrderCompleted)) == 1
    assert fulfillment.anomalies.reasons() == ["delivered_before_dispatched"]

    # The late dispatch report only fills in the carrier and tracking number.
    await dispatch(fulfillment, request.shipment_id, "EU", tracking="LATE-1")

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    assert fulfillment.emitted.of_type(ShipmentDispatched) == []
    shipment = fulfillment.shipments.shipments[request.shipment_id]
    assert (shipment.status, shipment.tracking_number) == (ShipmentStatus.DELIVERED, "LATE-1")
    assert fulfillment.anomalies.reasons()[-1] == "dispatched_after_delivered"


async def test_a_late_dispatch_report_gives_back_what_a_count_in_between_did_not_find(
    fulfillment: FakeFulfillment,
) -> None:
    request = await one_requested_shipment(fulfillment)
    counted = stock_counted("EU", "SPIKY", 3, WAREHOUSE_TIME + timedelta(hours=1))
    fulfillment.clock.set(counted.counted_at)
    await apply_stock_count(counted, fulfillment.unit(counted))  # the parcel had left
    await deliver(fulfillment, request.shipment_id)  # a day later: implies the dispatch then
    assert fulfillment.stock.level("EU", "SPIKY") == (1, 0)

    await dispatch(fulfillment, request.shipment_id, "EU", tracking="LATE-1")  # stamped before

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    [moved] = fulfillment.stock.movements_of("dispatch")
    # Re-dated only: it keeps what it did to on-hand; the recount corrects that.
    assert (moved.occurred_at, moved.on_hand_delta) == (WAREHOUSE_TIME, -2)
    recount = fulfillment.stock.movements_of("count")[-1]
    assert (recount.reference, recount.on_hand_delta) == (f"recount:{request.shipment_id}", 2)


async def test_a_delivery_stamped_before_its_dispatch_with_a_count_between_leaves_none_on_sale(
    fulfillment: FakeFulfillment,
) -> None:
    # Review (helper 124): the delivery (09:40) implied the dispatch; a count at 09:50 still
    # found the parcel on the shelf (5), was taken as made after it left, and the real
    # dispatch (09:55) took nothing: 5 on sale, 3 on the shelf.
    request = await one_requested_shipment(fulfillment)
    delivered = parcel_delivered(request.shipment_id, WAREHOUSE_TIME)
    fulfillment.clock.set(WAREHOUSE_TIME)
    await record_delivery(delivered, fulfillment.unit(delivered))
    counted = stock_counted("EU", "SPIKY", 5, WAREHOUSE_TIME + timedelta(minutes=10))
    await apply_stock_count(counted, fulfillment.unit(counted))
    assert fulfillment.stock.level("EU", "SPIKY") == (5, 0)

    report = parcel_dispatched(request.shipment_id, "EU", "T-LATE").model_copy(
        update={"dispatched_at": WAREHOUSE_TIME + timedelta(minutes=15)}
    )
    fulfillment.clock.set(report.dispatched_at)
    await record_dispatch(report, fulfillment.unit(report))

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    shipment = fulfillment.shipments.shipments[request.shipment_id]
    assert shipment.dispatched_at == WAREHOUSE_TIME, "not after its delivery"
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CLOCK_BEHIND)
    assert anomaly["shipment_id"] == request.shipment_id


async def test_a_delivery_reported_twice_completes_the_order_once(
    fulfillment: FakeFulfillment,
) -> None:
    request = await one_requested_shipment(fulfillment)
    await dispatch(fulfillment, request.shipment_id, "EU")

    await deliver(fulfillment, request.shipment_id)
    await deliver(fulfillment, request.shipment_id)

    assert len(fulfillment.emitted.of_type(ShipmentDelivered)) == 1
    assert len(fulfillment.emitted.of_type(OrderCompleted)) == 1
    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    assert fulfillment.anomalies.reasons() == ["duplicate_delivery"]


async def test_a_delivery_stamped_in_the_future_is_published_as_made_now(
    fulfillment: FakeFulfillment,
) -> None:
    # The return window counts from the published delivery: a year typed wrong must not
    # hold it open for decades.
    request = await one_requested_shipment(fulfillment)
    now = fulfillment.clock.now()
    report = parcel_delivered(request.shipment_id, now + timedelta(days=365 * 70))
    await record_delivery(report, fulfillment.unit(report))

    [delivered] = fulfillment.emitted.of_type(ShipmentDelivered)
    assert delivered.delivered_at == now
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CLOCK_AHEAD)
    assert anomaly["shipment_id"] == request.shipment_id


async def test_a_dispatch_stamped_long_before_its_request_cannot_hide_behind_a_count(
    fulfillment: FakeFulfillment,
) -> None:
    # A count before the order, then the shipment leaves stamped 1970: taken as older than
    # the count ("already counted"), its units stayed on the shelf and were sold again.
    counted = stock_counted("EU", "SPIKY", 5, WAREHOUSE_TIME - timedelta(minutes=30))
    await apply_stock_count(counted, fulfillment.unit(counted))
    request = await one_requested_shipment(fulfillment)
    requested_at = fulfillment.clock.now()
    await dispatch_stamped_1970(fulfillment, request.shipment_id)

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    [dispatched] = fulfillment.emitted.of_type(ShipmentDispatched)
    assert dispatched.dispatched_at == requested_at
    [anomaly] = fulfillment.anomalies.of(AnomalyReason.CLOCK_BEHIND)
    assert anomaly["detail"]["dispatched_at"].startswith("1970-01-02")


async def test_a_dispatch_stamped_long_before_its_request_comes_off_a_count_made_since(
    fulfillment: FakeFulfillment,
) -> None:
    # Found by review (helper 105): a count after the request still found the parcel on the
    # shelf; the dispatch stamped 1970 was taken as made at the request, so before that count
    # ("already counted"), and the 2 units that had left stayed on sale.
    request = await one_requested_shipment(fulfillment)
    requested_at = fulfillment.clock.now()
    fulfillment.clock.set(requested_at + timedelta(minutes=10))
    await count_spiky(fulfillment, 5, fulfillment.clock.now())
    fulfillment.clock.set(requested_at + timedelta(hours=1))
    await dispatch_stamped_1970(fulfillment, request.shipment_id)

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    [dispatched] = fulfillment.emitted.of_type(ShipmentDispatched)
    assert dispatched.dispatched_at == requested_at + timedelta(hours=1), "taken as read"


async def test_a_late_dispatch_stamped_long_before_its_request_does_not_undo_its_delivery(
    fulfillment: FakeFulfillment,
) -> None:
    # The delivery, read first, implied the dispatch after a count: right, 3 on the shelf.
    # The dispatch report, stamped 1970 and taken as made at the request, then moved the
    # dispatch before the count, which was applied again without it: 5 on sale.
    request = await one_requested_shipment(fulfillment)
    requested_at = fulfillment.clock.now()
    await count_spiky(fulfillment, 5, requested_at + timedelta(minutes=10))
    delivered = parcel_delivered(request.shipment_id, requested_at + timedelta(hours=1))
    fulfillment.clock.set(requested_at + timedelta(hours=2))
    await record_delivery(delivered, fulfillment.unit(delivered))
    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    fulfillment.clock.set(requested_at + timedelta(hours=3))
    await dispatch_stamped_1970(fulfillment, request.shipment_id)

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)


async def test_a_dispatch_stamped_long_before_its_request_comes_off_a_count_stamped_ahead(
    fulfillment: FakeFulfillment,
) -> None:
    # Review (helper 108): the warehouse's clock runs 45 minutes ahead (trusted). A count made
    # after the request, before the parcel left, finds 5; the dispatch stamped 1970, taken as
    # read at our time, looked older than the count's stamp: 2 units stayed on sale.
    request = await one_requested_shipment(fulfillment)
    requested_at = fulfillment.clock.now()
    fulfillment.clock.set(requested_at + timedelta(minutes=10))
    await count_spiky(fulfillment, 5, requested_at + timedelta(minutes=55))
    fulfillment.clock.set(requested_at + timedelta(minutes=30))
    await dispatch_stamped_1970(fulfillment, request.shipment_id)

    assert fulfillment.stock.level("EU", "SPIKY") == (3, 0)
    [dispatched] = fulfillment.emitted.of_type(ShipmentDispatched)
    assert dispatched.dispatched_at == requested_at + timedelta(minutes=30), "published as read"


async def test_a_delivery_stamped_before_its_dispatch_is_taken_as_made_when_it_left(
    fulfillment: FakeFulfillment,
) -> None:
    # Published as it came, a delivery stamped 40 days back closed the return window before
    # the customer had the parcel.
    request = await one_requested_shipment(fulfillment)
    await dispatch(fulfillment, request.shipment_id, "EU")
    report = parcel_delivered(request.shipment_id, WAREHOUSE_TIME - timedelta(days=40))
    fulfillment.clock.set(WAREHOUSE_TIME + timedelta(days=1))

    await record_delivery(report, fulfillment.unit(report))

    [delivered] = fulfillment.emitted.of_type(ShipmentDelivered)
    assert delivered.delivered_at == WAREHOUSE_TIME
    assert fulfillment.anomalies.reasons() == ["clock_behind"]


async def test_a_warehouse_clock_a_little_behind_ours_is_taken_as_it_is(
    fulfillment: FakeFulfillment,
) -> None:
    # Compared with counts stamped by the same clock: moving it would misplace the parcel.
    request = await one_requested_shipment(fulfillment)
    report = parcel_dispatched(request.shipment_id, "EU", "T-2").model_copy(
        update={"dispatched_at": fulfillment.clock.now() - timedelta(minutes=20)}
    )

    await record_dispatch(report, fulfillment.unit(report))

    [dispatched] = fulfillment.emitted.of_type(ShipmentDispatched)
    assert dispatched.dispatched_at == report.dispatched_at
    assert fulfillment.anomalies.rows == []
