"""Reservation, release, expiry and warehouse reports, against real Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from orderflow_chassis.dead_letters import failure_details
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    FulfillmentRequested,
    OrderCancelled,
    OrderCompleted,
    PaymentCaptured,
    PaymentVoided,
    ReservationReleased,
    ShipmentDelivered,
    ShipmentDispatched,
    ShortLine,
    StockReserved,
    StockUnavailable,
)
from orderflow_fulfillment.domain.stock_file import WarehouseEntry

from services.fulfillment.tests.integration.conftest import RESERVATION_TTL_S
from services.fulfillment.tests.integration.flow import (
    Flow,
    eur,
    load_warehouses,
    new_sku,
    order_placed,
)
from tests.support.kafka_tools import eventually, publish_raw, read_topic

pytestmark = pytest.mark.integration


def allocations(event: StockReserved | ReservationReleased) -> set[tuple[str, str, int]]:
    return {(a.warehouse_id, a.sku, a.quantity) for a in event.allocations}


async def outbox_count(flow: Flow, event_type: str, order_id: uuid.UUID) -> int:
    """What fulfillment emitted (committed), independent of when it reaches Kafka."""
    return int(
        await flow.runtime.pool.fetchval(
            "SELECT count(*) FROM fulfillment.outbox WHERE event_type = $1 AND message_key = $2",
            event_type,
            str(order_id),
        )
    )


async def applied(flow: Flow, event_id: uuid.UUID) -> bool:
    return bool(
        await flow.runtime.pool.fetchval(
            "SELECT true FROM fulfillment.inbox WHERE event_id = $1", event_id
        )
    )


async def test_reserve_capture_request_dispatch_deliver_completes_the_order(flow: Flow) -> None:
    spiky, splint = new_sku("SPIKY"), new_sku("SPLINT")
    eu = await flow.warehouse("EU", "DE", {spiky: 5, splint: 3}, near=["FR"])
    us = await flow.warehouse("US", "US", {spiky: 5, splint: 3})

    order_id = await flow.place_order({spiky: 2, splint: 1}, country="FR")

    [reserved] = await flow.wait_for(StockReserved, order_id)
    assert allocations(reserved) == {(eu, spiky, 2), (eu, splint, 1)}, "nearest whole warehouse"
    assert reserved.expires_at == flow.clock.now() + timedelta(seconds=RESERVATION_TTL_S)
    assert await flow.level(eu, spiky) == (5, 2)
    assert await flow.level(us, spiky) == (5, 0)

    await flow.capture(order_id)
    [request] = await flow.wait_for(FulfillmentRequested, order_id)
    assert request.warehouse_id == eu
    assert {(ln.sku, ln.name, ln.quantity) for ln in request.lines} == {
        (spiky, f"Product {spiky}", 2),
        (splint, f"Product {splint}", 1),
    }
    assert request.ship_to.country == "FR"
    assert request.shipping_service == "standard"
    assert request.replacement is False

    await flow.dispatch(request.shipment_id, eu, tracking="JJD000123")
    [dispatched] = await flow.wait_for(ShipmentDispatched, order_id)
    assert (dispatched.shipment_id, dispatched.warehouse_id) == (request.shipment_id, eu)
    assert (dispatched.carrier, dispatched.tracking_number) == ("DHL", "JJD000123")
    assert await flow.level(eu, spiky) == (3, 0), "reserved units leave on-hand at dispatch"
    assert await flow.level(eu, splint) == (2, 0)

    await flow.deliver(request.shipment_id)
    [delivered] = await flow.wait_for(ShipmentDelivered, order_id)
    assert {(ln.sku, ln.quantity) for ln in delivered.lines} == {(spiky, 2), (splint, 1)}
    assert delivered.replacement is False
    await flow.wait_for(OrderCompleted, order_id)
    assert await outbox_count(flow, "OrderCompleted", order_id) == 1

    # Everything fulfillment said about the order: in order, numbered, one journey.
    said = [e for e in flow.watcher.envelopes_for(order_id) if e.producer == "fulfillment"]
    assert [e.event_type for e in said] == [
        "StockReserved",
        "FulfillmentRequested",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "OrderCompleted",
    ]
    assert [e.sequence for e in said] == [1, 2, 3, 4, 5]
    assert {e.correlation_id for e in said} == {f"journey-{str(order_id)[:8]}"}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{flow.runtime.http_port}") as http:
        view = (await http.get(f"/orders/{order_id}")).json()
        stock = (await http.get("/stock", params={"warehouse": eu, "sku": spiky})).json()
        missing = await http.get(f"/orders/{uuid.uuid4()}")
    assert view["status"] == "completed"
    assert [(s["status"], s["tracking_number"]) for s in view["shipments"]] == [
        ("delivered", "JJD000123")
    ]
    assert [(s["on_hand"], s["reserved"], s["available"]) for s in stock] == [(3, 0, 3)]
    assert missing.status_code == 404


async def test_an_order_no_warehouse_can_ship_alone_is_split_into_fewest_shipments(
    flow: Flow,
) -> None:
    ball, insole, socks = new_sku("BALL"), new_sku("INSOLE"), new_sku("SOCKS")
    eu = await flow.warehouse("EU", "DE", {ball: 2, insole: 1})
    us = await flow.warehouse("US", "US", {insole: 4, socks: 3})
    ap = await flow.warehouse("AP", "SG", {socks: 9})

    order_id = await flow.place_order({ball: 2, insole: 3, socks: 1}, country="DE")

    [reserved] = await flow.wait_for(StockReserved, order_id)
    assert allocations(reserved) == {(eu, ball, 2), (us, insole, 3), (us, socks, 1)}
    assert await flow.level(ap, socks) == (9, 0)

    await flow.capture(order_id)
    requests = await flow.wait_for(FulfillmentRequested, order_id, count=2)
    assert len(requests) == 2
    by_warehouse = {r.warehouse_id: r for r in requests}
    assert set(by_warehouse) == {eu, us}
    assert len({r.shipment_id for r in requests}) == 2

    await flow.dispatch(by_warehouse[eu].shipment_id, eu)
    await flow.deliver(by_warehouse[eu].shipment_id)
    await flow.wait_for(ShipmentDelivered, order_id)
    row = await flow.runtime.pool.fetchval(
        "SELECT status FROM fulfillment.orders WHERE order_id = $1", order_id
    )
    assert row == "fulfilling", "one shipment of two delivered: not complete"

    await flow.dispatch(by_warehouse[us].shipment_id, us, tracking="1Z999")
    await flow.deliver(by_warehouse[us].shipment_id)
    await flow.wait_for(OrderCompleted, order_id)
    assert len(await flow.wait_for(ShipmentDelivered, order_id, count=2)) == 2
    assert await outbox_count(flow, "OrderCompleted", order_id) == 1
    assert await flow.level(us, insole) == (1, 0)
    assert await flow.level(eu, ball) == (0, 0)


async def test_stock_unavailable_reserves_nothing_and_lists_the_short_lines(flow: Flow) -> None:
    roller, heel, ghost = new_sku("ROLLER"), new_sku("HEEL"), new_sku("GHOST")
    eu = await flow.warehouse("EU", "DE", {roller: 1, heel: 5})
    us = await flow.warehouse("US", "US", {roller: 1})

    order_id = await flow.place_order({roller: 3, heel: 2, ghost: 1})

    [unavailable] = await flow.wait_for(StockUnavailable, order_id)
    assert unavailable.short_lines == [
        ShortLine(sku=roller, requested=3, available=2),
        ShortLine(sku=ghost, requested=1, available=0),
    ]
    assert await flow.level(eu, heel) == (5, 0), "nothing reserved, not even the lines in stock"
    assert await flow.level(eu, roller) == (1, 0)
    assert await flow.level(us, roller) == (1, 0)
    assert await outbox_count(flow, "StockReserved", order_id) == 0


@pytest.mark.parametrize("cause", ["payment_declined", "payment_voided", "order_cancelled"])
async def test_a_failed_payment_or_cancelled_order_releases_the_reservation(
    flow: Flow, cause: str
) -> None:
    sku = new_sku("SLEEVE")
    eu = await flow.warehouse("EU", "DE", {sku: 4})
    order_id = await flow.place_order({sku: 3})
    await flow.wait_for(StockReserved, order_id)
    assert await flow.level(eu, sku) == (4, 3)

    if cause == "payment_declined":
        await flow.decline(order_id)
    elif cause == "payment_voided":
        await flow.publish(
            PaymentVoided(
                order_id=order_id,
                payment_id=uuid.uuid4(),
                amount=eur("30.00"),
                reason="order_cancelled",
                provider="sandbox",
            )
        )
    else:
        await flow.publish(OrderCancelled(order_id=order_id, reason="customer_requested"))

    [released] = await flow.wait_for(ReservationReleased, order_id)
    assert released.reason == cause
    assert allocations(released) == {(eu, sku, 3)}
    assert await flow.level(eu, sku) == (4, 0)
    assert set((await flow.shipment_statuses(order_id)).values()) == {"released"}


async def test_a_decline_read_before_its_order_keeps_the_order_from_reserving(flow: Flow) -> None:
    sku = new_sku("CUSHION")
    eu = await flow.warehouse("EU", "DE", {sku: 2})
    order_id = uuid.uuid4()
    await flow.decline(order_id)  # payments and orders are different topics: this can happen
    status = await flow.until(
        lambda: flow.runtime.pool.fetchval(
            "SELECT status FROM fulfillment.orders WHERE order_id = $1", order_id
        ),
        lambda s: s is not None,
    )
    assert status == "released"

    [placed] = await flow.publish(order_placed(order_id, {sku: 1}, "DE"))
    assert await flow.until(lambda: applied(flow, placed.event_id), bool)
    assert await outbox_count(flow, "StockReserved", order_id) == 0
    assert await flow.level(eu, sku) == (2, 0)


async def test_a_reservation_expires_and_a_late_capture_ships_nothing(flow: Flow) -> None:
    sku = new_sku("PEANUT")
    eu = await flow.warehouse("EU", "DE", {sku: 5})
    order_id = await flow.place_order({sku: 2})
    [reserved] = await flow.wait_for(StockReserved, order_id)
    assert reserved.expires_at is not None

    flow.clock.set(reserved.expires_at + timedelta(seconds=1))

    [released] = await flow.wait_for(ReservationReleased, order_id)
    assert released.reason == "expired"
    assert allocations(released) == {(eu, sku, 2)}
    assert await flow.level(eu, sku) == (5, 0)

    # The capture crossed the expiry. The cart cancels the order on the release and payment
    # refunds the capture, so shipping it would end the order shipped and refunded.
    await flow.capture(order_id)
    [anomaly] = await flow.until(lambda: flow.anomalies(order_id=order_id), bool)
    assert anomaly["reason"] == "captured_after_release"
    assert anomaly["detail"] == {"order_status": "released", "release_reason": "expired"}
    assert await outbox_count(flow, "FulfillmentRequested", order_id) == 0
    assert await outbox_count(flow, "StockReserved", order_id) == 1
    assert await flow.level(eu, sku) == (5, 0)


async def test_unknown_duplicate_and_out_of_order_warehouse_reports_are_recorded(
    flow: Flow,
) -> None:
    sku = new_sku("SPLINT")
    eu = await flow.warehouse("EU", "DE", {sku: 10})
    us = await flow.warehouse("US", "US", {sku: 10})

    ghost = uuid.uuid4()
    await flow.dispatch(ghost, eu)
    [unknown] = await flow.until(lambda: flow.anomalies(shipment_id=ghost), bool)
    assert (unknown["reason"], unknown["warehouse_id"]) == ("unknown_shipment", eu)
    assert unknown["event_type"] == "ParcelDispatched"

    # Delivered before dispatched: accepted (the customer has it), stock leaves on delivery.
    order_id = await flow.place_order({sku: 2})
    await flow.wait_for(StockReserved, order_id)
    await flow.capture(order_id)
    [request] = await flow.wait_for(FulfillmentRequested, order_id)
    shipment_id = request.shipment_id
    await flow.deliver(shipment_id)
    await flow.wait_for(OrderCompleted, order_id)
    assert await flow.level(eu, sku) == (8, 0)
    # The late dispatch only fills in the tracking number; a second, conflicting one and one
    # from the wrong warehouse change nothing. Same key: they are applied in this order.
    await flow.dispatch(shipment_id, eu, tracking="LATE-1")
    await flow.dispatch(shipment_id, eu, tracking="OTHER-2")
    await flow.dispatch(shipment_id, us, tracking="LATE-1")
    await flow.deliver(shipment_id)
    found = await flow.until(
        lambda: flow.anomalies(shipment_id=shipment_id), lambda rows: len(rows) >= 6
    )
    assert [row["reason"] for row in found] == [
        "delivered_before_dispatched",
        "dispatched_after_delivered",
        "clock_behind",  # its dispatch is stamped after its delivery (both stamped when sent)
        "conflicting_dispatch",
        "warehouse_mismatch",
        "duplicate_delivery",
    ]
    assert await flow.level(eu, sku) == (8, 0), "stock left once"
    assert await flow.level(us, sku) == (10, 0)
    tracking = await flow.runtime.pool.fetchval(
        "SELECT tracking_number FROM fulfillment.shipments WHERE shipment_id = $1", shipment_id
    )
    assert tracking == "LATE-1"
    assert await outbox_count(flow, "ShipmentDispatched", order_id) == 0
    assert await outbox_count(flow, "ShipmentDelivered", order_id) == 1
    assert await outbox_count(flow, "OrderCompleted", order_id) == 1

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{flow.runtime.http_port}") as http:
        response = await http.get("/anomalies", params={"reason": "delivered_before_dispatched"})
    assert response.status_code == 200
    listed = [row for row in response.json() if row["shipment_id"] == str(shipment_id)]
    assert [(row["order_id"], row["event_type"]) for row in listed] == [
        (str(order_id), "ParcelDelivered")
    ]


async def requested_from_ten(
    flow: Flow, label: str
) -> tuple[str, str, uuid.UUID, FulfillmentRequested]:
    """A new SKU, 10 of it in EU, and an order of 2 captured and asked of the warehouse."""
    sku = new_sku(label)
    eu = await flow.warehouse("EU", "DE", {sku: 10})
    order_id = await flow.place_order({sku: 2})
    await flow.wait_for(StockReserved, order_id)
    await flow.capture(order_id)
    [request] = await flow.wait_for(FulfillmentRequested, order_id)
    return eu, sku, order_id, request


@pytest.mark.parametrize("count_read", ["before the delivery", "after the delivery"])
async def test_a_count_between_a_late_reported_dispatch_and_its_delivery_is_not_undercounted(
    flow: Flow, count_read: str
) -> None:
    # Dispatched at t0, counted at t0+10 min (the parcel gone: 8 on the shelf), delivered at
    # t0+20 min, the dispatch reported last. The delivery implied the dispatch at t0+20 min,
    # after the count, and took the 2 units off on-hand again: it read 6 until the next count.
    eu, sku, order_id, request = await requested_from_ten(flow, "GAUZE")
    t0 = datetime.now(UTC)
    if count_read == "before the delivery":
        await flow.count(eu, sku, 8, at=t0 + timedelta(minutes=10))
        await flow.until(lambda: flow.level(eu, sku), lambda level: level == (8, 2))
    await flow.deliver(request.shipment_id, at=t0 + timedelta(minutes=20))
    await flow.wait_for(OrderCompleted, order_id)
    if count_read == "after the delivery":
        await flow.count(eu, sku, 8, at=t0 + timedelta(minutes=10))
    # Until the dispatch report comes, the units left after the count, as far as we know.
    await flow.until(lambda: flow.level(eu, sku), lambda level: level == (6, 0))

    await flow.dispatch(request.shipment_id, eu, tracking="LATE-1", at=t0)

    await flow.until(lambda: flow.level(eu, sku), lambda level: level == (8, 0))
    moved = await flow.runtime.pool.fetch(
        "SELECT kind, occurred_at FROM fulfillment.stock_movements"
        " WHERE sku = $1 AND kind = 'dispatch'",
        sku,
    )
    assert [(m["kind"], m["occurred_at"]) for m in moved] == [("dispatch", t0)]
    # The movements still add up to on-hand: each keeps what it did when it was applied.
    ledger = await flow.runtime.pool.fetchval(
        "SELECT sum(on_hand_delta) FROM fulfillment.stock_movements WHERE sku = $1", sku
    )
    assert ledger == 8


@pytest.mark.parametrize("count_read", ["before the delivery", "after the delivery"])
async def test_a_count_between_a_delivery_and_its_later_stamped_dispatch_saw_the_units(
    flow: Flow, count_read: str
) -> None:
    # Review (helper 124): delivered at t0 (a warehouse clock behind), counted at t0+10 min
    # (the parcel still on the shelf: 10), dispatched at t0+15 min, reported last. The count
    # was taken as made after the implied dispatch, and the real one took nothing: 10 stayed
    # on sale with 8 on the shelf.
    eu, sku, order_id, request = await requested_from_ten(flow, "TAPE")
    t0 = datetime.now(UTC)
    if count_read == "before the delivery":
        await flow.count(eu, sku, 10, at=t0 + timedelta(minutes=10))
        await flow.until(lambda: flow.level(eu, sku), lambda level: level == (10, 2))
    await flow.deliver(request.shipment_id, at=t0)
    await flow.wait_for(OrderCompleted, order_id)
    if count_read == "after the delivery":
        await flow.count(eu, sku, 10, at=t0 + timedelta(minutes=10))
    await flow.until(lambda: flow.level(eu, sku), lambda level: level == (10, 0))

    await flow.dispatch(request.shipment_id, eu, tracking="LATE-2", at=t0 + timedelta(minutes=15))

    assert await flow.until(lambda: flow.level(eu, sku), lambda level: level == (8, 0)) == (8, 0)
    anomalies = await flow.until(lambda: flow.anomalies(warehouse_id=eu), bool)
    assert "clock_behind" in [row["reason"] for row in anomalies]


async def test_stock_counts_set_on_hand_never_below_reserved_and_stale_ones_are_ignored(
    flow: Flow,
) -> None:
    sku = new_sku("GEL")
    eu = await flow.warehouse("EU", "DE", {sku: 10})
    order_id = await flow.place_order({sku: 4})
    await flow.wait_for(StockReserved, order_id)
    t0 = datetime.now(UTC)

    await flow.count(eu, sku, 2, at=t0)  # the shelf holds fewer units than are promised
    [below] = await flow.until(lambda: flow.anomalies(warehouse_id=eu, sku=sku), bool)
    assert below["reason"] == "count_below_reserved"
    assert below["detail"] == {"counted": 2, "on_hand_set": 4, "missing_reserved_units": 2}
    assert await flow.level(eu, sku) == (4, 4)

    await flow.count(eu, sku, 50, at=t0 - timedelta(minutes=5))  # older than the last one
    await flow.count(eu, sku, 12, at=t0 + timedelta(minutes=5))
    await flow.until(lambda: flow.level(eu, sku), lambda level: level == (12, 4))
    reasons = [row["reason"] for row in await flow.anomalies(warehouse_id=eu, sku=sku)]
    assert reasons == ["count_below_reserved", "stale_count"]

    # A dispatch stamped before the last count: the count already left it out.
    await flow.capture(order_id)
    [request] = await flow.wait_for(FulfillmentRequested, order_id)
    await flow.dispatch(request.shipment_id, eu, at=t0)
    await flow.wait_for(ShipmentDispatched, order_id)
    assert await flow.level(eu, sku) == (12, 0)

    # A count read before the dispatch it followed: its shortfall leaves with the dispatch.
    sold = await flow.place_order({sku: 12})
    await flow.wait_for(StockReserved, sold)
    await flow.capture(sold)
    [shipped] = await flow.wait_for(FulfillmentRequested, sold)
    await flow.count(eu, sku, 0, at=t0 + timedelta(minutes=20))  # the shelf after the parcel
    await flow.until(lambda: flow.level(eu, sku), lambda level: level == (12, 12))
    await flow.dispatch(shipped.shipment_id, eu, at=t0 + timedelta(minutes=10))
    await flow.wait_for(ShipmentDispatched, sold)
    assert await flow.level(eu, sku) == (0, 0), "no unit to sell that is not on the shelf"

    # A count of a warehouse fulfillment does not know is a dead letter ops can replay.
    await flow.count("NOWHERE-1", sku, 3, at=t0)
    letters = await read_topic(
        flow.infrastructure.kafka_bootstrap_servers,
        flow.prefix + topics.WAREHOUSE_EVENTS + ".dlq",
        expect=1,
    )
    assert [failure_details(letter.headers)["error_code"] for letter in letters] == [
        "unknown_warehouse"
    ]


async def test_a_count_or_restock_made_before_an_operators_load_is_in_its_figure(
    flow: Flow,
) -> None:
    sku = new_sku("GEL")
    eu = await flow.warehouse("EU", "DE", {sku: 10})
    before_the_load = datetime.now(UTC) - timedelta(minutes=5)
    # The operator found 6 damaged and loads the 4 left (the SQL adapter: stock.loaded_at).
    entry = WarehouseEntry(id=eu, name="EU", country="DE", near=[], stock={sku: 4})
    await load_warehouses(flow.infrastructure, [entry])

    await flow.count(eu, sku, 10, at=before_the_load)
    [stale] = await flow.until(lambda: flow.anomalies(warehouse_id=eu, sku=sku), bool)
    assert stale["reason"] == "stale_count"
    assert await flow.level(eu, sku) == (4, 0)
    # Two units came back before the load: the operator counted them on the shelf.
    rma_id = uuid.uuid4()
    await flow.return_parcel(rma_id, eu, [(sku, 2, "resellable")], at=before_the_load)
    await flow.until(lambda: flow.anomalies(reason="unknown_rma", rma_id=rma_id), bool)
    assert await flow.level(eu, sku) == (4, 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{flow.runtime.http_port}") as http:
        [level] = (await http.get("/stock", params={"warehouse": eu, "sku": sku})).json()
    superseded_at = datetime.fromisoformat(stale["detail"]["superseded_at"])
    assert superseded_at == datetime.fromisoformat(level["loaded_at"])


async def test_an_event_on_a_topic_its_contract_does_not_publish_it_on_is_refused(
    flow: Flow,
) -> None:
    # Review (helper 133): a consumer looked its handler up by event type alone, so a
    # warehouse could publish PaymentCaptured on warehouse.events (a topic fulfillment reads,
    # which warehouses write) and fulfillment shipped an order nobody paid for.
    sku = new_sku("TOPIC")
    await flow.warehouse("EU", "DE", {sku: 5})
    order_id = await flow.place_order({sku: 1})
    await flow.wait_for(StockReserved, order_id)
    forged = Envelope.wrap(
        PaymentCaptured(
            order_id=order_id,
            payment_id=uuid.uuid4(),
            amount=eur("10.00"),
            provider="sandbox",
            provider_reference="cap_forged",
        ),
        producer="warehouse-test",
        correlation_id="journey-forged",
    )
    warehouse_topic = flow.prefix + topics.WAREHOUSE_EVENTS
    await publish_raw(
        flow.infrastructure.kafka_bootstrap_servers,
        warehouse_topic,
        [(forged.key, forged.to_bytes())],
        headers=[("event_type", b"PaymentCaptured")],
    )

    async def mine() -> list[str]:
        letters = await read_topic(
            flow.infrastructure.kafka_bootstrap_servers,
            warehouse_topic + ".dlq",
            expect=1_000,
            timeout_s=2,
        )
        return [failure_details(x.headers)["error_code"] for x in letters if x.key == forged.key]

    assert await eventually(mine, bool) == ["wrong_topic"]
    assert flow.watcher.events(FulfillmentRequested, order_id=order_id) == []
