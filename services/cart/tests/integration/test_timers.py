"""Time-driven behaviour with a settable clock: a sequence gap that never fills, and carts
reported abandoned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from orderflow_cart.domain.checkout import order_id_for
from orderflow_chassis.clock import SettableClock
from orderflow_contracts import topics
from orderflow_contracts.events import CartAbandoned, LineQuantity, OrderPlaced
from orderflow_contracts.money import Money

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.storefront import (
    add,
    checkout,
    currency,
    new_cart_id,
    wait_for_envelopes,
)
from tests.support.kafka_tools import eventually

pytestmark = pytest.mark.integration

CLOCK = SettableClock(datetime.now(UTC))
CART_OVERRIDES = {
    "sequence_gap_timeout_s": 30,
    "gap_sweep_interval_s": 0.1,
    "abandon_after_s": 3600,
    "abandon_sweep_interval_s": 0.1,
}


async def test_a_gap_that_never_fills_is_skipped_after_the_timeout(
    cart_service: RunningCart,
) -> None:
    storefront = cart_service.storefront
    cart_id = new_cart_id("gap")
    first = storefront.envelope(add(cart_id, "MB-PEANUT"))
    lost = storefront.envelope(add(cart_id, "TS-GEL-2PK", 5))  # sequence 2: never arrives
    third = storefront.envelope(add(cart_id, "NS-ADJ-M"))
    fourth = storefront.envelope(checkout(cart_id))
    await storefront.publish(first, third, fourth)

    waiting = await cart_service.cart_when(cart_id, lambda v: v["events_waiting"] == 2)
    assert [(line["sku"], line["quantity"]) for line in waiting["lines"]] == [("MB-PEANUT", 1)]

    CLOCK.advance(timedelta(seconds=31))
    [placed_envelope] = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.ORDERS,
        str(order_id_for(cart_id)),
        count=1,
    )
    placed = placed_envelope.parse_event()
    assert isinstance(placed, OrderPlaced)
    assert [(line.sku, line.quantity) for line in placed.lines] == [
        ("MB-PEANUT", 1),
        ("NS-ADJ-M", 1),
    ]
    assert placed.subtotal == Money.of("47.94", "USD")
    assert placed.shipping_fee == Money.of("4.95", "USD")
    assert placed.total == Money.of("52.89", "USD")
    assert placed_envelope.causation_id == str(fourth.event_id)

    await storefront.publish(lost)  # finally arrives: too late, the cart is an order now
    report = await eventually(
        lambda: _report(cart_service, cart_id), lambda r: len(r["unapplied"]) == 1
    )
    assert [(s["first_sequence"], s["last_sequence"]) for s in report["skipped_sequences"]] == [
        (2, 2)
    ]
    assert [(u["sequence"], u["reason"]) for u in report["unapplied"]] == [(2, "cart_checked_out")]


async def test_an_idle_cart_is_reported_abandoned_and_reopens_on_the_next_edit(
    cart_service: RunningCart,
) -> None:
    storefront = cart_service.storefront
    cart_id = new_cart_id("idle")
    active_at = CLOCK.now()
    sent = await storefront.send(add(cart_id, "CS-KNEE-M", 2), currency(cart_id, "EUR"))
    await cart_service.cart_when(cart_id, lambda v: v["currency"] == "EUR")

    CLOCK.advance(timedelta(seconds=3601))
    [abandoned_envelope] = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.CARTS,
        cart_id,
        count=1,
        event_types=["CartAbandoned"],
    )
    assert abandoned_envelope.parse_event() == CartAbandoned(
        cart_id=cart_id,
        last_activity_at=active_at,
        lines=[LineQuantity(sku="CS-KNEE-M", quantity=2)],
        subtotal=Money.of("29.56", "EUR"),  # 16.00 x 0.9235 = 14.776 -> 14.78, x 2
        customer_id=None,
    )
    assert abandoned_envelope.correlation_id == sent[-1].correlation_id
    assert abandoned_envelope.causation_id == str(sent[-1].event_id)
    view = await cart_service.cart_when(cart_id, lambda v: v["status"] == "abandoned")
    assert view["total"] == Money.of("34.51", "EUR").model_dump(mode="json")

    await storefront.send(add(cart_id, "CS-KNEE-M"))
    reopened = await cart_service.cart_when(cart_id, lambda v: v["status"] == "open")
    assert [(line["sku"], line["quantity"]) for line in reopened["lines"]] == [("CS-KNEE-M", 3)]


async def _report(service: RunningCart, cart_id: str) -> dict[str, list[dict[str, int | str]]]:
    response = await service.http.get(f"/carts/{cart_id}/unapplied-events")
    assert response.status_code == 200
    report: dict[str, list[dict[str, int | str]]] = response.json()
    return report
