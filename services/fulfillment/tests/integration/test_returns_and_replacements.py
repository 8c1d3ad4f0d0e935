"""Returned parcels and warranty replacements, against real Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from orderflow_contracts.events import (
    FulfillmentRequested,
    LineQuantity,
    OrderCompleted,
    ReplacementRequested,
    ReturnRestocked,
    ShipmentDelivered,
    StockReserved,
)

from services.fulfillment.tests.integration.flow import Flow, address, new_sku

pytestmark = pytest.mark.integration


async def delivered_order(flow: Flow, lines: dict[str, int]) -> tuple[uuid.UUID, str]:
    """An order taken all the way to OrderCompleted; returns it and its warehouse."""
    order_id = await flow.place_order(lines)
    await flow.wait_for(StockReserved, order_id)
    await flow.capture(order_id)
    [request] = await flow.wait_for(FulfillmentRequested, order_id)
    await flow.dispatch(request.shipment_id, request.warehouse_id)
    await flow.deliver(request.shipment_id)
    await flow.wait_for(OrderCompleted, order_id)
    return order_id, request.warehouse_id


async def movements(flow: Flow, reference: uuid.UUID) -> list[tuple[str, str, int, int]]:
    rows = await flow.runtime.pool.fetch(
        """
        SELECT kind, sku, quantity, on_hand_delta FROM fulfillment.stock_movements
        WHERE reference = $1 ORDER BY kind, sku
        """,
        str(reference),
    )
    return [(r["kind"], r["sku"], r["quantity"], r["on_hand_delta"]) for r in rows]


async def test_a_returned_parcel_restocks_resellable_units_and_writes_off_damaged_ones(
    flow: Flow,
) -> None:
    ball, sock = new_sku("BALL"), new_sku("SOCK")
    eu = await flow.warehouse("EU", "DE", {ball: 5, sock: 5})
    order_id, shipped_from = await delivered_order(flow, {ball: 3, sock: 1})
    assert shipped_from == eu
    assert await flow.level(eu, ball) == (2, 0)

    rma_id = await flow.authorize_return(order_id, {ball: 3, sock: 1})
    await flow.return_parcel(
        rma_id, eu, [(ball, 2, "resellable"), (ball, 1, "damaged"), (sock, 1, "damaged")]
    )

    [restocked] = await flow.wait_for(ReturnRestocked, order_id)
    assert (restocked.rma_id, restocked.warehouse_id) == (rma_id, eu)
    assert restocked.restocked == [LineQuantity(sku=ball, quantity=2)]
    assert restocked.written_off == sorted(  # lines come sorted by SKU
        [LineQuantity(sku=ball, quantity=1), LineQuantity(sku=sock, quantity=1)],
        key=lambda line: line.sku,
    )
    assert await flow.level(eu, ball) == (4, 0)
    assert await flow.level(eu, sock) == (4, 0), "damaged units never go back on the shelf"
    assert await movements(flow, rma_id) == sorted(
        [("restock", ball, 2, 2), ("write_off", ball, 1, 0), ("write_off", sock, 1, 0)]
    )

    # The warehouse sends the same parcel again (a new message): nothing moves twice.
    await flow.return_parcel(rma_id, eu, [(ball, 2, "resellable")])
    [duplicate] = await flow.until(lambda: flow.anomalies(rma_id=rma_id), bool)
    assert duplicate["reason"] == "duplicate_return_parcel"
    assert await flow.level(eu, ball) == (4, 0)
    assert len(await movements(flow, rma_id)) == 3


async def test_a_parcel_read_before_its_authorisation_is_restocked_and_reported_later(
    flow: Flow,
) -> None:
    heel = new_sku("HEEL")
    eu = await flow.warehouse("EU", "DE", {heel: 4})
    order_id, _ = await delivered_order(flow, {heel: 2})
    rma_id = uuid.uuid4()

    await flow.return_parcel(rma_id, eu, [(heel, 3, "resellable")])  # one more than sold
    [unknown] = await flow.until(lambda: flow.anomalies(rma_id=rma_id), bool)
    assert unknown["reason"] == "unknown_rma"
    assert await flow.level(eu, heel) == (5, 0), "restocked at once: the units are there"

    await flow.authorize_return(order_id, {heel: 2}, rma_id=rma_id)
    [restocked] = await flow.wait_for(ReturnRestocked, order_id)
    assert restocked.restocked == [LineQuantity(sku=heel, quantity=3)]
    assert restocked.written_off == []
    reasons = [row["reason"] for row in await flow.anomalies(rma_id=rma_id)]
    assert reasons == ["unknown_rma", "returned_more_than_authorised"]
    assert await flow.level(eu, heel) == (5, 0)


async def test_a_warranty_replacement_ships_at_no_charge_through_the_same_flow(
    flow: Flow,
) -> None:
    splint = new_sku("SPLINT")
    eu = await flow.warehouse("EU", "DE", {splint: 3}, near=["FR"])
    order_id, _ = await delivered_order(flow, {splint: 1})

    claim_id = f"claim-{uuid.uuid4().hex[:8]}"
    await flow.publish(
        ReplacementRequested(
            order_id=order_id,
            claim_id=claim_id,
            lines=[LineQuantity(sku=splint, quantity=1)],
            ship_to=address("FR"),
        )
    )
    requests = await flow.wait_for(FulfillmentRequested, order_id, count=2)
    replacement = requests[1]
    assert replacement.replacement is True
    assert replacement.warranty_claim_id == claim_id
    assert replacement.warehouse_id == eu
    assert replacement.ship_to.country == "FR"
    assert [(ln.sku, ln.name, ln.quantity) for ln in replacement.lines] == [
        (splint, f"Product {splint}", 1)
    ]
    assert await flow.level(eu, splint) == (2, 1)

    await flow.dispatch(replacement.shipment_id, eu, tracking="REPL-1")
    await flow.deliver(replacement.shipment_id)
    deliveries = await flow.wait_for(ShipmentDelivered, order_id, count=2)
    assert [d.replacement for d in deliveries] == [False, True]
    assert await flow.level(eu, splint) == (1, 0)
    counts = await flow.runtime.pool.fetch(
        """
        SELECT event_type, count(*) AS n FROM fulfillment.outbox WHERE message_key = $1
        GROUP BY event_type ORDER BY event_type
        """,
        str(order_id),
    )
    assert {r["event_type"]: r["n"] for r in counts} == {
        "StockReserved": 1,  # none for the replacement: payment must not capture anything
        "FulfillmentRequested": 2,
        "ShipmentDispatched": 2,
        "ShipmentDelivered": 2,
        "OrderCompleted": 1,  # a replacement does not reopen or re-complete the order
    }


async def test_a_replacement_without_stock_waits_and_ships_once_stock_is_counted(
    flow: Flow,
) -> None:
    ball, cream = new_sku("BALL"), new_sku("CREAM")
    eu = await flow.warehouse("EU", "DE", {ball: 1, cream: 0})
    order_id, _ = await delivered_order(flow, {ball: 1})
    claim_id = f"claim-{uuid.uuid4().hex[:8]}"

    await flow.publish(
        ReplacementRequested(
            order_id=order_id,
            claim_id=claim_id,
            lines=[LineQuantity(sku=ball, quantity=1)],
            ship_to=address("DE"),
        )
    )
    [backordered] = await flow.until(lambda: flow.anomalies(order_id=order_id), bool)
    assert backordered["reason"] == "replacement_backordered"
    assert backordered["detail"]["short_lines"] == [{"sku": ball, "requested": 1, "available": 0}]

    await flow.count(eu, ball, 6, at=datetime.now(UTC))
    requests = await flow.wait_for(FulfillmentRequested, order_id, count=2)
    assert (requests[1].replacement, requests[1].warranty_claim_id) == (True, claim_id)
    assert await flow.level(eu, ball) == (6, 1)
    status = await flow.runtime.pool.fetchval(
        "SELECT status FROM fulfillment.replacements WHERE order_id = $1 AND claim_id = $2",
        order_id,
        claim_id,
    )
    assert status == "requested"
