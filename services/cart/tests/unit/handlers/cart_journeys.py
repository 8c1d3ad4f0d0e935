"""Builders shared by the cart's use-case tests: numbered storefront envelopes, a checkout."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from orderflow_cart.bootstrap import dependencies
from orderflow_cart.handlers.cart_events import (
    STOREFRONT_CART_EVENTS,
    CartRules,
    receive_cart_event,
)
from orderflow_cart.settings import CartSettings
from orderflow_chassis.clock import SettableClock
from orderflow_chassis.testing import FakeTransactions, envelope_of
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartItemAdded,
    CheckoutRequested,
    Event,
    PaymentInput,
    ShippingAddressInput,
)

from services.cart.tests.fakes import FakeCartRepositories

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADDRESS = ShippingAddressInput(
    recipient_name="Ada Lovelace",
    line1="12 Example Street",
    city="Berlin",
    postal_code="10115",
    country="DE",
)


def deps() -> dict[str, object]:
    return dependencies(CartSettings())


def cart_rules(bound: dict[str, object]) -> CartRules:
    rules = bound["cart_rules"]
    assert isinstance(rules, CartRules)
    return rules


class Storefront:
    """Numbers each cart's events 1, 2, 3... as the storefront does."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = defaultdict(int)

    def envelope(self, event: Event, *, sequence: int | None = None) -> Envelope:
        cart_id = event.aggregate_id
        if sequence is None:
            self._numbers[cart_id] += 1
            sequence = self._numbers[cart_id]
        return envelope_of(event, correlation_id=f"journey-{cart_id}", sequence=sequence)


def add(cart_id: str, sku: str = "MB-SPIKY-8CM", quantity: int = 1) -> CartItemAdded:
    return CartItemAdded(cart_id=cart_id, sku=sku, quantity=quantity)


def checkout(cart_id: str, *, token: str = "tok_visa_approve") -> CheckoutRequested:
    return CheckoutRequested(
        cart_id=cart_id,
        customer_id="cust-7",
        email="ada@example.com",
        shipping_address=ADDRESS,
        payment=PaymentInput.model_validate(
            {
                "method": "visa",
                "provider_token": token,
                "card": {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030},
            }
        ),
    )


async def deliver(
    tx: FakeTransactions[FakeCartRepositories], envelope: Envelope, rules: CartRules | None = None
) -> None:
    """Hand ``envelope`` to the cart's handler as the consumer would."""
    event = envelope.parse_event()
    assert isinstance(event, STOREFRONT_CART_EVENTS)
    await receive_cart_event(event, tx.unit(cause=envelope), cart_rules=rules or cart_rules(deps()))


def clock() -> SettableClock:
    return SettableClock(START)
