"""Checkout over real Kafka and PostgreSQL: orders with exact amounts, every rejection code,
one order per cart."""

from __future__ import annotations

from typing import Any

import pytest
from orderflow_cart.domain.checkout import order_id_for
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartCheckedOut, CheckoutRejected, OrderPlaced

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.storefront import (
    ADDRESS,
    add,
    checkout,
    currency,
    new_cart_id,
    remove,
    set_quantity,
    wait_for_envelopes,
)
from tests.support.kafka_tools import eventually

pytestmark = pytest.mark.integration

CART_OVERRIDES = {"shipping_countries": "US,CA,GB,DE,FR,NL,JP,AU"}


def money(amount: str, code: str) -> dict[str, str]:
    return {"amount": amount, "currency": code}


async def outcome(service: RunningCart, cart_id: str, count: int = 1) -> list[Envelope]:
    return await wait_for_envelopes(
        service.infrastructure, service.prefix, topics.CARTS, cart_id, count=count
    )


async def test_a_checkout_publishes_the_order_with_every_amount_exact(
    cart_service: RunningCart,
) -> None:
    cart_id = new_cart_id("eur")
    sent = await cart_service.storefront.send(
        currency(cart_id, "EUR"),
        add(cart_id, "MB-SPIKY-8CM", 2),
        add(cart_id, "NS-ADJ-M"),
        add(cart_id, "TS-GEL-2PK"),
        add(cart_id, "HC-SIL-PAIR"),
        remove(cart_id, "HC-SIL-PAIR"),
        set_quantity(cart_id, "TS-GEL-2PK", 3),
        checkout(cart_id),
    )
    request = sent[-1]
    order_id = order_id_for(cart_id)

    [checked_out] = await outcome(cart_service, cart_id)
    [placed_envelope] = await wait_for_envelopes(
        cart_service.infrastructure, cart_service.prefix, topics.ORDERS, str(order_id), count=1
    )

    placed = placed_envelope.parse_event()
    assert isinstance(placed, OrderPlaced)
    assert placed.model_dump(mode="json") == {
        "order_id": str(order_id),
        "cart_id": cart_id,
        "customer_id": "cust-7",
        "email": "ada@example.com",
        "lines": [
            {
                "sku": "MB-SPIKY-8CM",
                "name": "Spiky massage ball 8 cm",
                "quantity": 2,
                "unit_price": money("9.19", "EUR"),  # 9.95 x 0.9235 = 9.188825
                "line_total": money("18.38", "EUR"),
            },
            {
                "sku": "NS-ADJ-M",
                "name": "Adjustable night splint M",
                "quantity": 1,
                "unit_price": money("32.31", "EUR"),  # 34.99 x 0.9235 = 32.313265
                "line_total": money("32.31", "EUR"),
            },
            {
                "sku": "TS-GEL-2PK",
                "name": "Gel toe separators (2 pack)",
                "quantity": 3,
                "unit_price": money("5.99", "EUR"),  # 6.49 x 0.9235 = 5.993515
                "line_total": money("17.97", "EUR"),
            },
        ],
        "currency": "EUR",
        "subtotal": money("68.66", "EUR"),
        "shipping_fee": money("0.00", "EUR"),  # 68.66 / 0.9235 = 74.35 USD: above 50.00
        "total": money("68.66", "EUR"),
        "base_subtotal": money("74.35", "USD"),
        "fx": {
            "base_currency": "USD",
            "quote_currency": "EUR",
            "rate": "0.9235",
            "as_of": "2025-06-02T16:00:00Z",
            "source": "seed-file",
        },
        "ship_to": {**ADDRESS, "line2": None, "region": None},
        "payment": {
            "method": "visa",
            "provider_token": "tok_visa_approve",
            "card": {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030},
        },
    }
    assert (placed_envelope.producer, placed_envelope.sequence) == ("cart", 1)
    assert placed_envelope.correlation_id == request.correlation_id
    assert placed_envelope.causation_id == str(request.event_id)

    event = checked_out.parse_event()
    assert event == CartCheckedOut(cart_id=cart_id, order_id=order_id, customer_id="cust-7")
    assert checked_out.causation_id == str(request.event_id)

    view = await cart_service.cart(cart_id)
    assert (view["status"], view["order_id"], view["total"]) == (
        "checked_out",
        str(order_id),
        money("68.66", "EUR"),
    )


async def test_a_small_jpy_cart_pays_the_flat_fee(cart_service: RunningCart) -> None:
    cart_id = new_cart_id("jpy")
    await cart_service.storefront.send(
        currency(cart_id, "JPY"),
        add(cart_id, "MB-PEANUT", 2),
        add(cart_id, "CS-KNEE-M"),
        checkout(
            cart_id, method="paypal", token="pp-ref-7781", address={**ADDRESS, "country": "JP"}
        ),
    )
    [placed_envelope] = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.ORDERS,
        str(order_id_for(cart_id)),
        count=1,
    )
    placed = placed_envelope.parse_event()
    assert isinstance(placed, OrderPlaced)
    amounts = placed.model_dump(mode="json")
    assert [(line["unit_price"], line["line_total"]) for line in amounts["lines"]] == [
        (money("1960", "JPY"), money("3920", "JPY")),  # 12.95 x 151.37 = 1960.2415
        (money("2422", "JPY"), money("2422", "JPY")),  # 16.00 x 151.37 = 2421.92
    ]
    assert amounts["subtotal"] == money("6342", "JPY")
    assert amounts["base_subtotal"] == money("41.90", "USD")  # 6342 / 151.37 = 41.8973...
    assert amounts["shipping_fee"] == money("700", "JPY")
    assert amounts["total"] == money("7042", "JPY")
    assert amounts["fx"]["rate"] == "151.37"
    assert amounts["payment"] == {"method": "paypal", "provider_token": "pp-ref-7781", "card": None}


def reasons(envelope: Envelope) -> list[tuple[str, str | None]]:
    event = envelope.parse_event()
    assert isinstance(event, CheckoutRejected)
    return [(reason.code, reason.sku) for reason in event.reasons]


async def test_every_rejection_reason_comes_with_its_code(cart_service: RunningCart) -> None:
    empty, faulty, far_away = (new_cart_id(label) for label in ("empty", "faulty", "far"))
    await cart_service.storefront.send(
        currency(empty, "EUR"),
        checkout(empty, address=None, method="amex"),
        add(faulty, "MB-SPIKY-8CM", 21),  # at most 20 of one product
        add(faulty, "XX-NOT-SOLD"),
        currency(faulty, "XYZ"),
        checkout(faulty, address={**ADDRESS, "line1": " ", "country": "Germany"}, token=None),
        add(far_away, "NS-ADJ-L"),
        checkout(far_away, address={**ADDRESS, "country": "KP"}),
    )
    [empty_rejected] = await outcome(cart_service, empty)
    [faulty_rejected] = await outcome(cart_service, faulty)
    [far_rejected] = await outcome(cart_service, far_away)

    assert reasons(empty_rejected) == [
        ("empty_cart", None),
        ("missing_shipping_address", None),
        ("unsupported_payment_method", None),
    ]
    assert reasons(faulty_rejected) == [  # in the order of the README's table
        ("unknown_sku", "XX-NOT-SOLD"),
        ("quantity_out_of_bounds", "MB-SPIKY-8CM"),
        ("unsupported_currency", None),
        ("invalid_shipping_address", None),
        ("invalid_country", None),
        ("missing_payment_token", None),
    ]
    assert reasons(far_rejected) == [("country_not_shipped_to", None)]
    rejected = far_rejected.parse_event()
    assert isinstance(rejected, CheckoutRejected)
    assert rejected.reasons[0].message == "we do not ship to KP"

    # The cart stays open: fixing the address and asking again places the order.
    await cart_service.storefront.send(checkout(far_away, address={**ADDRESS, "country": "NL"}))
    _, placed = await outcome(cart_service, far_away, count=2)
    assert placed.event_type == "CartCheckedOut"
    order = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.ORDERS,
        str(order_id_for(far_away)),
        count=1,
    )
    order_placed = order[0].parse_event()
    assert isinstance(order_placed, OrderPlaced)
    assert order_placed.ship_to.country == "NL"
    assert order_placed.total.model_dump(mode="json") == money("39.94", "USD")  # 34.99 + 4.95


async def test_checking_out_twice_yields_one_order(cart_service: RunningCart) -> None:
    cart_id = new_cart_id("twice")
    storefront = cart_service.storefront
    edits = [storefront.envelope(add(cart_id, "FR-WOOD-ROLLER", 3))]
    first = storefront.envelope(checkout(cart_id))
    second = storefront.envelope(checkout(cart_id, customer_id="cust-other"))
    late_edit = storefront.envelope(add(cart_id, "MB-PEANUT"))
    await storefront.publish(*edits, first, first, second, late_edit)  # `first` delivered twice

    checked_out = await outcome(cart_service, cart_id, count=2)
    order_id = order_id_for(cart_id)
    assert [e.parse_event() for e in checked_out] == [
        CartCheckedOut(cart_id=cart_id, order_id=order_id, customer_id="cust-7"),
        CartCheckedOut(cart_id=cart_id, order_id=order_id, customer_id="cust-7"),
    ]
    # The relay publishes in commit order: the re-announcement is out, so is every OrderPlaced.
    orders = await wait_for_envelopes(
        cart_service.infrastructure, cart_service.prefix, topics.ORDERS, str(order_id), count=1
    )
    assert [e.event_type for e in orders] == ["OrderPlaced"]
    placed_rows = await cart_service.runtime.pool.fetchval(
        "SELECT count(*) FROM cart.outbox WHERE event_type = 'OrderPlaced' AND message_key = $1",
        str(order_id),
    )
    assert placed_rows == 1

    report = await eventually(
        lambda: _unapplied(cart_service, cart_id), lambda found: len(found) == 2
    )
    assert [(r["event_type"], r["sequence"], r["reason"]) for r in report] == [
        ("CheckoutRequested", 3, "already_checked_out"),
        ("CartItemAdded", 4, "cart_checked_out"),
    ]
    metrics = (await cart_service.http.get("/metrics")).text
    assert 'orderflow_cart_unapplied_events_total{reason="already_checked_out"}' in metrics
    view = await cart_service.cart(cart_id)
    assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [("FR-WOOD-ROLLER", 3)]
    assert view["total"] == money("63.00", "USD")  # 3 x 21.00, free shipping


async def _unapplied(service: RunningCart, cart_id: str) -> list[dict[str, Any]]:
    response = await service.http.get(f"/carts/{cart_id}/unapplied-events")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["unapplied"]
    return found
