"""After the 30-day window: returns are refused, warranty claims ship a replacement.

Here the test plays the warehouse itself, and fulfillment and the warehouse live 40 days in
the past (``FULFILLMENT_CLOCK_OFFSET_S``): the order is shipped and delivered then, and the
customer, on today's clock, writes after the window closed. A warehouse report dated before
its shipment was requested is refused as impossible (``clock_behind``), so only the clocks
can move the delivery back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_contracts.events import (
    LineQuantity,
    ParcelDelivered,
    ParcelDispatched,
    ReturnRequested,
    WarrantyClaimFiled,
)
from orderflow_ops.invariants import render

from tests.support.storefront_actions import check_out, has, make_available, order_of_cart
from tests.support.system_harness import RunningSystem, events_of

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

FULFILLMENT_CLOCK = timedelta(days=-40)
SERVICE_ENV = {"FULFILLMENT_CLOCK_OFFSET_S": str(FULFILLMENT_CLOCK.total_seconds())}


def warehouse_now() -> datetime:
    """The warehouse's time: its clock agrees with fulfillment's."""
    return datetime.now(UTC) + FULFILLMENT_CLOCK


@pytest.fixture(scope="module", autouse=True)
async def stocked(running_system: RunningSystem) -> None:
    await make_available(
        running_system, "PF-SLEEVE-L", {"US-EAST": 10}, clock_offset=FULFILLMENT_CLOCK
    )


async def deliver_as_warehouse(
    system: RunningSystem, order_id: str, *, replacement: bool = False, at: datetime
) -> list[str]:
    """Dispatch and deliver every (matching) shipment of the order, dated ``at``."""
    log = await system.wait_for(
        has("FulfillmentRequested", order_id=order_id, replacement=replacement),
        what="a fulfillment request",
    )
    shipments = events_of(log, "FulfillmentRequested", order_id=order_id, replacement=replacement)
    await system.publish(
        [
            event
            for shipment in shipments
            for event in (
                ParcelDispatched(
                    shipment_id=uuid.UUID(shipment.data["shipment_id"]),
                    warehouse_id=shipment.data["warehouse_id"],
                    carrier="UPS",
                    tracking_number=f"1Z{shipment.data['shipment_id'][:8].upper()}",
                    dispatched_at=at - timedelta(minutes=1),
                ),
                ParcelDelivered(
                    shipment_id=uuid.UUID(shipment.data["shipment_id"]), delivered_at=at
                ),
            )
        ],
        producer="warehouse",
    )
    return [s.data["shipment_id"] for s in shipments]


async def delivered_order(system: RunningSystem, lines: Sequence[tuple[str, int]]) -> str:
    cart_id = await check_out(system, lines)
    order_id = await order_of_cart(system, cart_id)
    await deliver_as_warehouse(system, order_id, at=warehouse_now())
    await system.wait_for(has("OrderCompleted", order_id=order_id), what="completion")
    return order_id


async def test_a_return_after_the_window_is_rejected(running_system: RunningSystem) -> None:
    order_id = await delivered_order(running_system, [("PF-SLEEVE-L", 1)])

    await running_system.publish(
        [
            ReturnRequested(
                order_id=uuid.UUID(order_id),
                return_request_id=f"ret-{order_id[:8]}",
                lines=[LineQuantity(sku="PF-SLEEVE-L", quantity=1)],
                reason="Changed my mind",
            )
        ]
    )
    log = await running_system.wait_for(has("ReturnRejected", order_id=order_id), what="answer")

    rejected = events_of(log, "ReturnRejected", order_id=order_id)
    assert [r.data["reason_code"] for r in rejected] == ["window_expired"]
    assert not events_of(log, "ReturnAuthorized", order_id=order_id)
    assert not events_of(log, "RefundRequested", order_id=order_id)
    report = await running_system.invariants()
    assert report.ok, render(report)


async def test_a_warranty_claim_after_the_window_ships_a_replacement(
    running_system: RunningSystem,
) -> None:
    order_id = await delivered_order(running_system, [("PF-SLEEVE-L", 1)])

    await running_system.publish(
        [
            WarrantyClaimFiled(
                order_id=uuid.UUID(order_id),
                claim_id=f"claim-{order_id[:8]}",
                sku="PF-SLEEVE-L",
                country_of_usage="US",
                defect_description="The seam split after five weeks",
            )
        ]
    )
    # The decision and its replacement request are two records: wait for both, not the first.
    log = await running_system.wait_for(
        lambda log: bool(
            events_of(log, "WarrantyClaimAccepted", order_id=order_id)
            and events_of(log, "ReplacementRequested", order_id=order_id)
        ),
        what="warranty decision and replacement request",
    )
    assert len(events_of(log, "WarrantyClaimAccepted", order_id=order_id)) == 1
    assert len(events_of(log, "ReplacementRequested", order_id=order_id)) == 1

    shipped = await deliver_as_warehouse(
        running_system, order_id, replacement=True, at=warehouse_now()
    )
    log = await running_system.wait_for(
        lambda log: any(
            e.data["shipment_id"] == shipped[0]
            for e in events_of(log, "ShipmentDelivered", order_id=order_id)
        ),
        what="the replacement's delivery",
    )

    captures = events_of(log, "PaymentCaptured", order_id=order_id)
    assert len(captures) == 1, "the replacement is free: no second charge"
    assert not events_of(log, "RefundRequested", order_id=order_id), "no refund either"
    report = await running_system.invariants()
    assert report.ok, render(report)
