"""Test helpers: a storefront that numbers each cart's events, and exact reads of topics."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from orderflow_chassis.topic_reader import read_to_end
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCurrencySelected,
    CartItemAdded,
    CartItemQuantityChanged,
    CartItemRemoved,
    CheckoutRequested,
    Event,
    PaymentInput,
    ShippingAddressInput,
)
from orderflow_localinfra.discovery import Infrastructure

from tests.support.kafka_tools import eventually
from tests.support.service_harness import publish_envelopes

ADDRESS: dict[str, Any] = {
    "recipient_name": "Ada Lovelace",
    "line1": "12 Example Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
CARD = {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030}
TOKEN = "tok_visa_approve"


def new_cart_id(label: str) -> str:
    return f"cart-{label}-{uuid.uuid4().hex[:12]}"


class Storefront:
    """Publishes cart events as the storefront does: numbered 1, 2, 3... per cart."""

    def __init__(self, infrastructure: Infrastructure, prefix: str) -> None:
        self.infrastructure = infrastructure
        self.prefix = prefix
        self._sequences: dict[str, int] = defaultdict(int)

    def envelope(self, event: Event) -> Envelope:
        cart_id = event.aggregate_id
        self._sequences[cart_id] += 1
        return Envelope.wrap(
            event,
            producer="storefront",
            correlation_id=f"journey-{cart_id}",
            sequence=self._sequences[cart_id],
        )

    async def publish(self, *envelopes: Envelope) -> None:
        await publish_envelopes(self.infrastructure, self.prefix, list(envelopes))

    async def send(self, *events: Event) -> list[Envelope]:
        envelopes = [self.envelope(event) for event in events]
        await self.publish(*envelopes)
        return envelopes


def add(cart_id: str, sku: str, quantity: int = 1) -> CartItemAdded:
    return CartItemAdded(cart_id=cart_id, sku=sku, quantity=quantity)


def remove(cart_id: str, sku: str) -> CartItemRemoved:
    return CartItemRemoved(cart_id=cart_id, sku=sku)


def set_quantity(cart_id: str, sku: str, quantity: int) -> CartItemQuantityChanged:
    return CartItemQuantityChanged(cart_id=cart_id, sku=sku, quantity=quantity)


def currency(cart_id: str, code: str) -> CartCurrencySelected:
    return CartCurrencySelected(cart_id=cart_id, currency=code)


def checkout(
    cart_id: str,
    *,
    address: dict[str, Any] | None = ADDRESS,
    method: str = "visa",
    token: str | None = TOKEN,
    customer_id: str = "cust-7",
) -> CheckoutRequested:
    return CheckoutRequested(
        cart_id=cart_id,
        customer_id=customer_id,
        email="ada@example.com",
        shipping_address=None if address is None else ShippingAddressInput(**address),
        payment=PaymentInput.model_validate(
            {"method": method, "provider_token": token, "card": CARD}
        ),
    )


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record on ``topic`` up to its current end, in (partition, offset) order.

    No consumer group (no effect on anyone's offsets). Unlike reading until N records came,
    this stops at the end offsets, so a probe never waits for records that will not come.
    """
    return await read_to_end(bootstrap, [topic])


async def envelopes_of(
    infrastructure: Infrastructure, prefix: str, topic: str, aggregate_id: str
) -> list[Envelope]:
    records = await read_all(infrastructure.kafka_bootstrap_servers, prefix + topic)
    envelopes = [Envelope.from_bytes(record.value) for record in records]
    return [e for e in envelopes if e.aggregate_id == aggregate_id]


async def wait_for_envelopes(
    infrastructure: Infrastructure,
    prefix: str,
    topic: str,
    aggregate_id: str,
    *,
    count: int,
    event_types: Sequence[str] | None = None,
) -> list[Envelope]:
    """Poll until ``count`` envelopes of ``aggregate_id`` (of those types) are on ``topic``."""

    async def probe() -> list[Envelope]:
        found = await envelopes_of(infrastructure, prefix, topic, aggregate_id)
        return [e for e in found if event_types is None or e.event_type in event_types]

    return await eventually(probe, lambda found: len(found) >= count)
