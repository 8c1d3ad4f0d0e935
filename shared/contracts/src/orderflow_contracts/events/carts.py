"""Cart events: the storefront's cart edits and checkout requests (`storefront.carts`), and the
cart service's answers (`carts`). Both topics are keyed by cart_id.

The storefront never sends prices: the cart service prices every cart server-side.

Storefront inputs are checked in two layers. The contract checks their *shape* (types, ids,
SKU format); a message that fails it goes to a dead letter. The cart service checks the *business
rules* and answers a checkout with `CheckoutRejected` listing every reason. So the fields of
`CheckoutRequested` that a customer can get wrong (shipping address, country, payment method,
missing token) are typed loosely here and strictly in `OrderPlaced`, after the cart accepted them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from orderflow_contracts import topics
from orderflow_contracts.events.base import Event
from orderflow_contracts.events.common import (
    CardSummary,
    CartId,
    CustomerId,
    LineQuantity,
    OrderId,
    RejectionReason,
)
from orderflow_contracts.money import NonNegativeMoney
from orderflow_contracts.primitives import (
    ContractModel,
    CurrencyCode,
    Email,
    Quantity,
    Sku,
    TokenInput,
    UtcDatetime,
)

_FormText = Annotated[str, StringConstraints(max_length=200)]


# ------------------------------------------------------------------------- storefront.carts


class CartItemAdded(Event):
    """The customer put units of a product in the cart (adds to any quantity already there).

    Published by the storefront; consumed by the cart service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    sku: Sku
    quantity: Quantity


class CartItemRemoved(Event):
    """The customer removed a product (all its units) from the cart.

    Published by the storefront; consumed by the cart service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    sku: Sku


class CartItemQuantityChanged(Event):
    """The customer set the quantity of a product in the cart (an absolute quantity, not a
    difference; removing is `CartItemRemoved`). A product not yet in the cart is added.

    Published by the storefront; consumed by the cart service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    sku: Sku
    quantity: Quantity


class CartCurrencySelected(Event):
    """The customer chose the currency the cart is priced in.

    Any three letters are accepted here, in any case (`eur` is read as `EUR`); a currency the
    store does not sell in makes the checkout fail with `unsupported_currency`. Published by
    the storefront; consumed by the cart service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    currency: CurrencyCode


class ShippingAddressInput(ContractModel):
    """The shipping address as the customer entered it. Every field is optional and loosely
    typed; the cart service validates it (a country must be an ISO 3166-1 alpha-2 code the store
    ships to) and rejects the checkout with a reason instead of dead-lettering it. Only a field
    over 200 characters (or holding card data) breaks the contract: that checkout is
    dead-lettered, and answered by `CheckoutRejected` with code `invalid_request`."""

    recipient_name: _FormText | None = None
    line1: _FormText | None = None
    line2: _FormText | None = None
    city: _FormText | None = None
    postal_code: _FormText | None = None
    region: _FormText | None = None
    country: _FormText | None = Field(
        default=None, description="Expected: ISO 3166-1 alpha-2, upper case, e.g. 'DE'."
    )


class PaymentInput(ContractModel):
    """The payment the customer chose. `method` is expected to be `visa`, `mastercard` or
    `paypal`; anything else is rejected by the cart with `unsupported_payment_method`. Cards and
    PayPal are represented by a provider token obtained by the storefront's payment widget; a
    payment without a token (card or PayPal), or with a blank one, is rejected with
    `missing_payment_token`, one of up to 255 characters that are not all letters, digits and
    `_ . : -` starting with a letter or digit with `invalid_payment_token` (a longer one is
    refused by the contract). The card summary is for display only.
    NEVER a card number or security code: a token containing a card number is refused. A
    checkout the contract refuses is dead-lettered and answered by `CheckoutRejected` with
    code `invalid_request`."""

    method: _FormText
    provider_token: TokenInput | None = None
    card: CardSummary | None = None


class CheckoutRequested(Event):
    """The customer asked to check out the cart: place an order for its current contents.

    Answered by `CheckoutRejected` (every reason at once) or by `OrderPlaced` + `CartCheckedOut`;
    one that breaks the contract (a malformed `email`, say) is dead-lettered and answered by
    `CheckoutRejected` with code `invalid_request`, and one the cart could not process with
    `checkout_failed`, when its key (the cart id) can be read.
    Requesting checkout of the same cart again yields the same single order.
    Published by the storefront; consumed by the cart service.
    """

    topic: ClassVar[str] = topics.STOREFRONT_CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    customer_id: CustomerId
    email: Email
    shipping_address: ShippingAddressInput | None = None
    payment: PaymentInput


# ------------------------------------------------------------------------------------- carts


class CheckoutRejectionCode(StrEnum):
    """Reason codes the cart service uses in `CheckoutRejected` (an open list), in the order
    its rules are checked: the cart, the shipping address, then the payment."""

    EMPTY_CART = "empty_cart"
    UNKNOWN_SKU = "unknown_sku"
    QUANTITY_OUT_OF_BOUNDS = "quantity_out_of_bounds"
    UNSUPPORTED_CURRENCY = "unsupported_currency"
    MISSING_SHIPPING_ADDRESS = "missing_shipping_address"
    INVALID_SHIPPING_ADDRESS = "invalid_shipping_address"
    INVALID_COUNTRY = "invalid_country"
    COUNTRY_NOT_SHIPPED_TO = "country_not_shipped_to"
    UNSUPPORTED_PAYMENT_METHOD = "unsupported_payment_method"
    MISSING_PAYMENT_TOKEN = "missing_payment_token"  # noqa: S105 - a reason code
    INVALID_PAYMENT_TOKEN = "invalid_payment_token"  # noqa: S105 - a reason code
    # The cart's amounts in its currency would pass the largest amount (below 10^15).
    TOTAL_TOO_LARGE = "total_too_large"
    # Not a rule the cart failed: the checkout's number kept it out of the cart's order.
    STALE_SEQUENCE = "stale_sequence"
    DUPLICATE_SEQUENCE = "duplicate_sequence"
    # The cart already became an order, and that order was cancelled (a declined payment, say):
    # the cart accepts nothing more, so the customer starts a new cart; the only reason given.
    ORDER_CANCELLED = "order_cancelled"
    # The checkout request itself breaks the contract (a malformed e-mail, a field too long,
    # card data): it is dead-lettered with the cause, and answered so the storefront hears
    # why; the message names the field. The only reason given.
    INVALID_REQUEST = "invalid_request"
    # The cart could not process the checkout (a failure its retries did not get past): it is
    # dead-lettered for ops, and nothing was ordered. The only reason given.
    CHECKOUT_FAILED = "checkout_failed"
    # Never a rejection (a checked-out cart's checkout re-announces CartCheckedOut); kept: v1
    # removes no enum value.
    ALREADY_CHECKED_OUT = "already_checked_out"


_CHECKOUT_CODES = (
    "Every reason the checkout was refused, in the order of the rules. Known codes of `code` "
    "(an open list): "
    + ", ".join(
        f"`{code.value}`"
        for code in CheckoutRejectionCode
        if code is not CheckoutRejectionCode.ALREADY_CHECKED_OUT
    )
    + "."
)


class CheckoutRejected(Event):
    """The checkout was refused; `reasons` lists every problem found, not just the first.

    The cart stays open: the customer may fix it and request checkout again. The exception is
    `order_cancelled`: the cart became an order that was then cancelled, so a checkout with
    another card must come from a new cart.
    Published by the cart service; consumed by the storefront and ops.
    """

    topic: ClassVar[str] = topics.CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    reasons: Annotated[list[RejectionReason], Field(min_length=1)] = Field(
        description=_CHECKOUT_CODES
    )


class CartCheckedOut(Event):
    """The cart became an order; it accepts no more edits. Published by the cart service
    together with `OrderPlaced`, and alone again when the checked-out cart is checked out again
    (the same order: count orders by `OrderPlaced`, not by this); consumed by the storefront
    and ops."""

    topic: ClassVar[str] = topics.CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    order_id: OrderId
    customer_id: CustomerId


class CartAbandoned(Event):
    """The cart saw no activity for the configured time and expired without a checkout.

    `subtotal` is the cart priced in its currency when it expired (absent when it was empty or
    could not be priced). Published by the cart service; consumed by the storefront and ops
    (e.g. reminder e-mails).
    """

    topic: ClassVar[str] = topics.CARTS
    key_field: ClassVar[str] = "cart_id"

    cart_id: CartId
    last_activity_at: UtcDatetime
    lines: list[LineQuantity]
    subtotal: NonNegativeMoney | None = None
    customer_id: CustomerId | None = None
