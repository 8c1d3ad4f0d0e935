"""The order saga end to end: four services as separate processes on real Kafka and
PostgreSQL, driven only through the public contract by a storefront (this test) and a
warehouse (the simulator). Every scenario ends with the system invariant check passing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from orderflow_contracts.events import LineQuantity, ReturnRequested
from orderflow_fulfillment.simulator import WarehouseSimulator
from orderflow_ops.invariants import render

from tests.support.storefront_actions import (
    check_out,
    has,
    make_available,
    order_of_cart,
)
from tests.support.system_harness import RunningSystem, events_of

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PLENTY = {"US-EAST": 40, "EU-CENTRAL": 40, "AP-SOUTHEAST": 40}


@pytest.fixture(scope="module", autouse=True)
async def stocked(running_system: RunningSystem, warehouse: WarehouseSimulator) -> None:
    for sku in ("MB-SPIKY-8CM", "NS-ADJ-M", "INS-GEL-M"):
        await make_available(running_system, sku, PLENTY)


async def assert_invariants_hold(system: RunningSystem) -> None:
    report = await system.invariants()
    assert report.ok, render(report)


def in_currency(usd: str, rate: str, digits: int) -> Decimal:
    quantum = Decimal(1).scaleb(-digits)
    return (Decimal(usd) * Decimal(rate)).quantize(quantum, rounding=ROUND_HALF_EVEN)


async def test_happy_path_in_usd(running_system: RunningSystem) -> None:
    cart_id = await check_out(running_system, [("MB-SPIKY-8CM", 2), ("NS-ADJ-M", 1)])
    order_id = await order_of_cart(running_system, cart_id)

    log = await running_system.wait_for(has("OrderCompleted", order_id=order_id), what="delivery")

    placed = events_of(log, "OrderPlaced", order_id=order_id)[0].data
    assert placed["subtotal"] == {"amount": "54.89", "currency": "USD"}  # 2 x 9.95 + 34.99
    assert placed["shipping_fee"] == {"amount": "0.00", "currency": "USD"}  # above $50
    assert placed["total"] == {"amount": "54.89", "currency": "USD"}
    captured = events_of(log, "PaymentCaptured", order_id=order_id)
    assert [c.data["amount"] for c in captured] == [placed["total"]]
    assert len(events_of(log, "FulfillmentRequested", order_id=order_id)) == 1
    assert len(events_of(log, "ShipmentDelivered", order_id=order_id)) == 1
    await assert_invariants_hold(running_system)
    await assert_timeline_tells_the_story(running_system, order_id)


async def assert_timeline_tells_the_story(system: RunningSystem, order_id: str) -> None:
    """`orderflow-ops timeline ORDER_ID --json`, as an ops engineer would run it."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "orderflow_ops", "timeline", order_id, "--json"],
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": system.infrastructure.kafka_bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": system.prefix,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    types = [entry["event_type"] for entry in entries]
    expected_story = [
        "CheckoutRequested",
        "OrderPlaced",
        "PaymentCaptured",
        "FulfillmentRequested",
        "ParcelDispatched",
        "ShipmentDelivered",
        "OrderCompleted",
    ]
    positions = [types.index(event_type) for event_type in expected_story]
    assert positions == sorted(positions), types
    placed = entries[types.index("OrderPlaced")]
    assert placed["producer"] == "cart"
    assert entries[placed["caused_by"] - 1]["event_type"] == "CheckoutRequested"


async def test_a_eur_order_above_the_threshold_ships_free(running_system: RunningSystem) -> None:
    cart_id = await check_out(
        running_system, [("NS-ADJ-M", 2)], currency="EUR", country="DE", method="mastercard"
    )
    order_id = await order_of_cart(running_system, cart_id)
    log = await running_system.wait_for(has("OrderCompleted", order_id=order_id), what="delivery")

    placed = events_of(log, "OrderPlaced", order_id=order_id)[0].data
    unit = in_currency("34.99", placed["fx"]["rate"], 2)
    assert placed["lines"][0]["unit_price"] == {"amount": str(unit), "currency": "EUR"}
    assert placed["subtotal"] == {"amount": str(unit * 2), "currency": "EUR"}
    assert Decimal(placed["base_subtotal"]["amount"]) > Decimal("50.00")
    assert placed["shipping_fee"] == {"amount": "0.00", "currency": "EUR"}
    assert placed["total"] == placed["subtotal"]
    shipment = events_of(log, "FulfillmentRequested", order_id=order_id)[0].data
    assert shipment["warehouse_id"] == "EU-CENTRAL"  # nearest to Germany
    await assert_invariants_hold(running_system)


async def test_a_jpy_order_below_the_threshold_pays_the_fee(running_system: RunningSystem) -> None:
    cart_id = await check_out(
        running_system,
        [("MB-SPIKY-8CM", 1)],
        currency="JPY",
        country="JP",
        method="paypal",
        token="tok_paypal_approve",
    )
    order_id = await order_of_cart(running_system, cart_id)
    log = await running_system.wait_for(has("OrderCompleted", order_id=order_id), what="delivery")

    placed = events_of(log, "OrderPlaced", order_id=order_id)[0].data
    unit = in_currency("9.95", placed["fx"]["rate"], 0)
    assert placed["subtotal"] == {"amount": str(unit), "currency": "JPY"}
    assert placed["shipping_fee"] == {"amount": "700", "currency": "JPY"}
    assert placed["total"] == {"amount": str(unit + 700), "currency": "JPY"}
    captured = events_of(log, "PaymentCaptured", order_id=order_id)
    assert [c.data["amount"] for c in captured] == [placed["total"]]
    await assert_invariants_hold(running_system)


async def test_a_declined_card_cancels_the_order_and_releases_the_stock(
    running_system: RunningSystem,
) -> None:
    cart_id = await check_out(
        running_system, [("INS-GEL-M", 1)], token="tok_visa_decline_insufficient_funds"
    )
    order_id = await order_of_cart(running_system, cart_id)

    log = await running_system.wait_for(
        lambda log: bool(
            events_of(log, "OrderCancelled", order_id=order_id)
            and events_of(log, "ReservationReleased", order_id=order_id)
        ),
        what="cancellation and release",
    )

    declined = events_of(log, "PaymentDeclined", order_id=order_id)
    assert [d.data["reason_code"] for d in declined] == ["insufficient_funds"]
    cancelled = events_of(log, "OrderCancelled", order_id=order_id)
    assert [c.data["reason"] for c in cancelled] == ["payment_declined"]
    assert not events_of(log, "PaymentCaptured", order_id=order_id)
    assert not events_of(log, "FulfillmentRequested", order_id=order_id)
    await assert_invariants_hold(running_system)


async def test_out_of_stock_voids_the_authorisation_and_cancels_the_order(
    running_system: RunningSystem,
) -> None:
    await make_available(running_system, "HC-SIL-PAIR", {})
    cart_id = await check_out(running_system, [("HC-SIL-PAIR", 1), ("MB-SPIKY-8CM", 1)])
    order_id = await order_of_cart(running_system, cart_id)

    log = await running_system.wait_for(
        lambda log: bool(
            events_of(log, "OrderCancelled", order_id=order_id)
            and events_of(log, "PaymentVoided", order_id=order_id)
        ),
        what="void and cancellation",
    )

    short = events_of(log, "StockUnavailable", order_id=order_id)[0].data["short_lines"]
    assert [line["sku"] for line in short] == ["HC-SIL-PAIR"]
    assert not events_of(log, "StockReserved", order_id=order_id)
    assert [c.data["reason"] for c in events_of(log, "OrderCancelled", order_id=order_id)] == [
        "stock_unavailable"
    ]
    assert not events_of(log, "PaymentCaptured", order_id=order_id)
    await assert_invariants_hold(running_system)


async def test_a_return_inside_the_window_is_refunded(running_system: RunningSystem) -> None:
    cart_id = await check_out(running_system, [("MB-SPIKY-8CM", 3)])
    order_id = await order_of_cart(running_system, cart_id)
    await running_system.wait_for(has("OrderCompleted", order_id=order_id), what="delivery")

    await running_system.publish(
        [
            ReturnRequested(
                order_id=uuid.UUID(order_id),
                return_request_id=f"ret-{order_id[:8]}",
                lines=[LineQuantity(sku="MB-SPIKY-8CM", quantity=1)],
                reason="Too firm for me",
            )
        ]
    )
    log = await running_system.wait_for(has("RefundIssued", order_id=order_id), what="refund")

    authorized = events_of(log, "ReturnAuthorized", order_id=order_id)
    assert len(authorized) == 1
    refund = events_of(log, "RefundIssued", order_id=order_id)[0].data
    assert refund["amount"] == {"amount": "9.95", "currency": "USD"}  # one unit, no shipping
    assert len(events_of(log, "ReturnRestocked", order_id=order_id)) == 1
    await assert_invariants_hold(running_system)


async def test_a_split_shipment_completes_when_both_parcels_arrive(
    running_system: RunningSystem,
) -> None:
    await make_available(running_system, "NS-ADJ-L", {"US-EAST": 1, "EU-CENTRAL": 1})
    cart_id = await check_out(running_system, [("NS-ADJ-L", 2)])
    order_id = await order_of_cart(running_system, cart_id)

    log = await running_system.wait_for(has("OrderCompleted", order_id=order_id), what="delivery")

    shipments = events_of(log, "FulfillmentRequested", order_id=order_id)
    assert sorted(s.data["warehouse_id"] for s in shipments) == ["EU-CENTRAL", "US-EAST"]
    assert len(events_of(log, "ShipmentDelivered", order_id=order_id)) == 2
    assert len(events_of(log, "PaymentCaptured", order_id=order_id)) == 1
    await assert_invariants_hold(running_system)
