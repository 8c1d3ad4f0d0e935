"""Envelopes as an upstream producer (the storefront, a warehouse) would publish them."""

from __future__ import annotations

import uuid

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded


def cart_item_added(cart_id: str, *, sku: str, quantity: int = 1) -> Envelope:
    return Envelope.wrap(
        CartItemAdded(cart_id=cart_id, sku=sku, quantity=quantity),
        producer="storefront",
        correlation_id=f"journey-{uuid.uuid4().hex[:8]}",
    )
