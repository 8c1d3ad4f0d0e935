"""The cart aggregate: what the customer put in it, in which currency, and where it stands.

```
open --(idle longer than CART_ABANDON_AFTER_S)--> abandoned --(any edit)--> open
open | abandoned --(accepted checkout)--> checked_out   (final: no more edits)
```

A cart holds no prices: it is priced when it is read or checked out, from the catalog and rates
of that moment; the order then freezes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from orderflow_contracts.events import (
    CartCurrencySelected,
    CartItemAdded,
    CartItemQuantityChanged,
    CartItemRemoved,
)
from orderflow_contracts.primitives import MAX_QUANTITY

CartEdit = CartItemAdded | CartItemRemoved | CartItemQuantityChanged | CartCurrencySelected

MAX_CART_PRODUCTS: Final = 1_000
"""Different products one cart may hold. An order takes far fewer (``CART_MAX_LINES``); the
bound keeps what is published about a cart (a rejection's reason per product, an abandoned
cart's lines) well inside a Kafka message: 8,700 unknown products once made a
``CheckoutRejected`` too large to publish, so the checkout was never answered."""


class CartStatus(StrEnum):
    OPEN = "open"
    ABANDONED = "abandoned"
    CHECKED_OUT = "checked_out"


class CartClosed(Exception):
    """The cart was checked out: it accepts no more edits."""


@dataclass
class Cart:
    cart_id: str
    status: CartStatus = CartStatus.OPEN
    currency: str | None = None
    """As the customer selected it (any three letters); None until selected."""
    lines: dict[str, int] = field(default_factory=dict)
    """SKU -> quantity, in the order the SKUs were first added."""
    last_sequence: int = 0
    """The storefront sequence number of the last event applied (0: none yet)."""
    last_activity_at: datetime | None = None
    last_event_id: str | None = None
    """The event behind the last activity, and its journey: what CartAbandoned is caused by."""
    last_correlation_id: str | None = None
    customer_id: str | None = None
    order_id: UUID | None = None

    @property
    def is_checked_out(self) -> bool:
        return self.status is CartStatus.CHECKED_OUT

    def product_beyond_room(self, edit: CartEdit) -> str | None:
        """The SKU ``edit`` would add beyond :data:`MAX_CART_PRODUCTS`, if it would."""
        if not isinstance(edit, CartItemAdded | CartItemQuantityChanged):
            return None
        full = len(self.lines) >= MAX_CART_PRODUCTS
        return edit.sku if full and edit.sku not in self.lines else None

    def apply(self, edit: CartEdit) -> None:
        if self.is_checked_out:
            raise CartClosed(self.cart_id)
        match edit:
            case CartItemAdded(sku=sku, quantity=quantity):
                # Adds accumulate; the line is capped at the contract's maximum so it can
                # always be reported. The business limit is checked at checkout.
                self.lines[sku] = min(self.lines.get(sku, 0) + quantity, MAX_QUANTITY)
            case CartItemRemoved(sku=sku):
                self.lines.pop(sku, None)
            case CartItemQuantityChanged(sku=sku, quantity=quantity):
                # An absolute quantity: setting one for a SKU not yet in the cart adds it.
                self.lines[sku] = quantity
            case CartCurrencySelected(currency=currency):
                self.currency = currency

    def touch(self, moment: datetime, *, event_id: str, correlation_id: str) -> None:
        """The customer did something: the cart is active again (no longer abandoned)."""
        self.last_activity_at = moment
        self.last_event_id = event_id
        self.last_correlation_id = correlation_id
        if self.status is CartStatus.ABANDONED:
            self.status = CartStatus.OPEN

    def abandon(self) -> None:
        if self.status is CartStatus.OPEN:
            self.status = CartStatus.ABANDONED

    def check_out(self, order_id: UUID, customer_id: str) -> None:
        if self.is_checked_out:
            raise CartClosed(self.cart_id)
        self.status = CartStatus.CHECKED_OUT
        self.order_id = order_id
        self.customer_id = customer_id
