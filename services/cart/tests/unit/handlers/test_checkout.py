"""Checkout as a use case: what is emitted and kept, on in-memory repositories."""

from __future__ import annotations

from decimal import Decimal

from orderflow_cart.handlers.cart_events import receive_cart_event
from orderflow_contracts.events import CartCheckedOut, CheckoutRejected, OrderPlaced

from services.cart.tests.fakes import fake_transactions
from services.cart.tests.unit.handlers.cart_journeys import (
    Storefront,
    add,
    cart_rules,
    checkout,
    clock,
    deliver,
    deps,
)


async def test_an_accepted_checkout_places_one_order_caused_by_the_request() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    for envelope in (
        shop.envelope(add("c-10", "FR-WOOD-ROLLER", 3)),
        shop.envelope(checkout("c-10")),
    ):
        await deliver(tx, envelope, cart_rules(deps()))
    request = envelope
    placed, receipt = tx.emitted.envelopes
    assert placed.event_type == OrderPlaced.event_type
    assert receipt.event_type == CartCheckedOut.event_type
    assert {placed.causation_id, receipt.causation_id} == {str(request.event_id)}
    assert placed.correlation_id == request.correlation_id
    order = tx.emitted.of_type(OrderPlaced)[0]
    assert order.subtotal.amount == Decimal("63.00")
    assert order.shipping_fee.is_zero, "above $50: free shipping"
    assert tx.repos.orders.placed[order.order_id] == order
    cart = tx.repos.carts.carts["c-10"]
    assert cart.is_checked_out
    assert cart.order_id == order.order_id


async def test_a_rejected_checkout_gives_every_reason_and_leaves_the_cart_open() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    for event in (add("c-11", "NO-SUCH-SKU"), checkout("c-11", token="tok_visa_approve")):
        envelope = shop.envelope(event)
        await receive_cart_event(event, tx.unit(cause=envelope), cart_rules=cart_rules(deps()))
    (rejected,) = tx.emitted.of_type(CheckoutRejected)
    assert "unknown_sku" in [reason.code for reason in rejected.reasons]
    assert tx.emitted.of_type(OrderPlaced) == []
    assert tx.repos.orders.placed == {}
    assert not tx.repos.carts.carts["c-11"].is_checked_out


async def test_a_checkout_on_empty_reference_data_seeds_it_first() -> None:
    tx, shop = fake_transactions(clock(), seeded=False), Storefront()
    for event in (add("c-12", "MB-PEANUT", 5), checkout("c-12")):
        envelope = shop.envelope(event)
        await receive_cart_event(event, tx.unit(cause=envelope), cart_rules=cart_rules(deps()))
    assert len(tx.emitted.of_type(OrderPlaced)) == 1
    assert tx.repos.catalog.seed_locks == 1
