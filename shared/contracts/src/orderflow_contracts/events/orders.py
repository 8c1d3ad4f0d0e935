"""Order lifecycle events (`orders`, keyed by order_id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator
from pydantic.types import Strict

from orderflow_contracts import topics
from orderflow_contracts.events.base import Event
from orderflow_contracts.events.common import (
    PER_SKU_DESCRIPTION,
    UNITS_PER_SKU,
    CartId,
    CustomerId,
    FxSnapshot,
    OrderId,
    OrderLine,
    PaymentMethodRef,
    PostalAddress,
)
from orderflow_contracts.money import Currency, NonNegativeMoney, PositiveMoney
from orderflow_contracts.primitives import Email, ReasonCode, Text, known_codes


class OrderPlaced(Event):
    """An order was placed: the full, final snapshot of what the customer buys and pays.

    Every amount is in `currency`: unit prices converted from the catalog's USD prices at
    `fx.rate` and rounded half-even per unit; `line_total = unit_price * quantity`;
    `subtotal = sum(line_total)`; `total = subtotal + shipping_fee`. `base_subtotal` is the
    subtotal valued in the FX base currency (USD): shipping is free when it is above the cart
    service's threshold (`CART_FREE_SHIPPING_ABOVE_USD`, 50.00 by default).

    Published by the cart service (answering `CheckoutRequested`); consumed by payment
    (authorises `total`), fulfillment (reserves stock), returns (remembers prices paid for
    refunds and the ship-to country for warranty), the storefront and ops.
    """

    topic: ClassVar[str] = topics.ORDERS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    cart_id: CartId
    customer_id: CustomerId
    email: Email
    lines: Annotated[
        list[OrderLine], Field(min_length=1, description=PER_SKU_DESCRIPTION), UNITS_PER_SKU
    ]
    currency: Annotated[Currency, Strict(False)]
    subtotal: NonNegativeMoney
    shipping_fee: NonNegativeMoney
    total: PositiveMoney
    base_subtotal: NonNegativeMoney = Field(
        description="The subtotal valued in the FX snapshot's base currency (USD); it decides "
        "free shipping."
    )
    fx: FxSnapshot
    ship_to: PostalAddress
    payment: PaymentMethodRef

    @model_validator(mode="after")
    def _amounts_in_order_currency(self) -> Self:
        # Only currency consistency is enforced here: arithmetic rules may gain terms
        # (discounts, taxes) in later optional fields, which an older consumer must not refuse.
        amounts = [self.subtotal, self.shipping_fee, self.total]
        amounts += [money for line in self.lines for money in (line.unit_price, line.line_total)]
        if any(money.currency != self.currency for money in amounts):
            raise ValueError(f"every amount must be in the order currency {self.currency.value}")
        if self.fx.quote_currency != self.currency:
            raise ValueError("fx.quote_currency must be the order currency")
        if self.base_subtotal.currency != self.fx.base_currency:
            raise ValueError("base_subtotal must be in fx.base_currency")
        return self


class OrderCancellationReason(StrEnum):
    """Reason codes of `OrderCancelled` (an open list)."""

    PAYMENT_DECLINED = "payment_declined"
    STOCK_UNAVAILABLE = "stock_unavailable"
    RESERVATION_EXPIRED = "reservation_expired"
    AUTHORIZATION_EXPIRED = "authorization_expired"
    # Never published (no v1 event asks for a cancellation); kept: v1 removes no enum value.
    CUSTOMER_REQUESTED = "customer_requested"


class OrderCancelled(Event):
    """The order will not be fulfilled. Compensations follow: payment voids the authorisation
    (or refunds a capture), fulfillment releases any reservation.

    Published by the cart service (owner of the order) when payment is declined, stock is
    unavailable or a reservation or authorisation expired; consumed by payment, fulfillment,
    the storefront and ops.
    """

    topic: ClassVar[str] = topics.ORDERS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
    reason: ReasonCode = known_codes(
        OrderCancellationReason, unused=(OrderCancellationReason.CUSTOMER_REQUESTED,)
    )
    message: Text | None = None


class OrderCompleted(Event):
    """Every shipment of the order was delivered (replacements shipped later do not reopen it).

    Published by fulfillment, which alone knows when the last shipment arrived; consumed by the
    storefront and ops.
    """

    topic: ClassVar[str] = topics.ORDERS
    key_field: ClassVar[str] = "order_id"

    order_id: OrderId
