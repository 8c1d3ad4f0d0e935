"""Value objects shared by several events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Final, Literal, Protocol, TypeVar

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.types import Strict

from orderflow_contracts.money import Currency, NonNegativeMoney
from orderflow_contracts.primitives import (
    IDENTIFIER_PATTERN,
    MAX_QUANTITY,
    CardBrand,
    ContractModel,
    CountryCode,
    Last4,
    Name,
    PaymentMethod,
    ProviderToken,
    Quantity,
    Rate,
    ReasonCode,
    Sku,
    StockLevel,
    Text,
    UtcDatetime,
    Uuid,
    WarehouseId,
)

# ------------------------------------------------------------------------------------------ ids
# Ids minted by Orderflow's services are UUIDs; ids minted by the storefront or other outside
# systems are opaque identifiers (letters, digits, `_ . : -`; UUID strings fit).

CartId = Annotated[
    str,
    StringConstraints(pattern=IDENTIFIER_PATTERN),
    Field(description="The storefront's id of the cart."),
]
CustomerId = Annotated[
    str,
    StringConstraints(pattern=IDENTIFIER_PATTERN),
    Field(description="The storefront's id of the customer."),
]
ReturnRequestId = Annotated[
    str,
    StringConstraints(pattern=IDENTIFIER_PATTERN),
    Field(description="The storefront's id of the return request, echoed in the answer."),
]
ClaimId = Annotated[
    str,
    StringConstraints(pattern=IDENTIFIER_PATTERN),
    Field(description="The storefront's id of the warranty claim, echoed in the answer."),
]
OrderId = Annotated[Uuid, Field(description="The order's id, minted by the cart service.")]
PaymentId = Annotated[
    Uuid, Field(description="The payment's id (one per authorisation), minted by payment.")
]
RefundId = Annotated[
    Uuid,
    Field(
        description="The refund's id: minted by whoever asks for the refund (returns, in "
        "RefundRequested) and echoed by payment; payment's idempotency key for it."
    ),
]
ShipmentId = Annotated[
    Uuid, Field(description="The shipment's id, minted by fulfillment, echoed by warehouses.")
]
RmaId = Annotated[Uuid, Field(description="The return authorisation (RMA) id, minted by returns.")]


class PostalAddress(ContractModel):
    """A validated delivery address."""

    recipient_name: Name
    line1: Name
    line2: Name | None = None
    city: Name
    postal_code: Annotated[str, Field(min_length=1, max_length=20)] | None = Field(
        default=None, description="Absent only where the country has no postal codes."
    )
    region: Name | None = Field(default=None, description="State, province or county.")
    country: CountryCode


class CardSummary(ContractModel):
    """What may be known about a card: never its number or security code."""

    brand: CardBrand
    last4: Last4
    expiry_month: Annotated[int, Field(ge=1, le=12)]
    expiry_year: Annotated[int, Field(ge=2000, le=2100)]


class PaymentMethodRef(ContractModel):
    """How the order is paid: an accepted method and the provider's token for it.

    The token is what the payment service authorises against; the card summary (cards only) is
    for display and support. No card number, no security code.
    """

    method: PaymentMethod
    provider_token: ProviderToken
    card: CardSummary | None = None


class LineQuantity(ContractModel):
    """A quantity of one SKU."""

    sku: Sku
    quantity: Quantity


class OrderLine(ContractModel):
    """One priced line of an order, in the order's currency. `line_total` is
    `unit_price * quantity`; unit prices were converted and rounded half-even per unit before
    multiplying."""

    sku: Sku
    name: Name
    quantity: Quantity
    unit_price: NonNegativeMoney
    line_total: NonNegativeMoney


class FxSnapshot(ContractModel):
    """The exchange rate an order was priced with: 1 `base_currency` = `rate` `quote_currency`.

    For an order in the base currency itself the rate is "1".
    """

    base_currency: Annotated[Currency, Strict(False)] = Field(
        description="Catalog prices and the free-shipping threshold are in this currency (USD)."
    )
    quote_currency: Annotated[Currency, Strict(False)] = Field(description="The order's currency.")
    rate: Rate
    as_of: UtcDatetime = Field(description="When the rate source published this rate.")
    source: Name = Field(description="Where the rate came from, e.g. 'ecb-daily' or 'seed-file'.")


class RejectionReason(ContractModel):
    """One reason a request was refused."""

    code: ReasonCode = Field(
        examples=["unknown_sku"],
        description="Why: the known codes are listed by the event that carries the reasons.",
    )
    message: Text
    sku: Sku | None = Field(default=None, description="The line the reason is about, if any.")


class StockAllocation(ContractModel):
    """Units of one SKU held in one warehouse."""

    warehouse_id: WarehouseId
    sku: Sku
    quantity: Quantity


class ShortLine(ContractModel):
    """A line that cannot be served: how many were asked for and how many exist in total."""

    sku: Sku
    requested: Quantity
    available: StockLevel


ParcelCondition = Literal["resellable", "damaged"]
"""What a warehouse found when it opened a returned parcel."""


class ReturnedLine(ContractModel):
    """Units of one SKU received back, with their condition."""

    sku: Sku
    quantity: Quantity
    condition: ParcelCondition


class RefundLine(ContractModel):
    """The refunded part of one order line, at the price actually paid."""

    sku: Sku
    quantity: Quantity
    amount: NonNegativeMoney


class _SkuUnits(Protocol):
    @property
    def sku(self) -> str: ...
    @property
    def quantity(self) -> int: ...


_L = TypeVar("_L", bound=_SkuUnits)


def _units_per_sku_within_limit(lines: Sequence[_L]) -> Sequence[_L]:
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    if max(totals.values(), default=0) > MAX_QUANTITY:
        raise ValueError(
            f"the lines of one SKU total more than {MAX_QUANTITY} units; "
            f"at most {MAX_QUANTITY} per SKU"
        )
    return lines


UNITS_PER_SKU: Final = AfterValidator(_units_per_sku_within_limit)
"""On a list of lines: a SKU may stand on several lines, but its lines total at most
``MAX_QUANTITY`` units (what one line may hold), so whatever adds them up stays in bounds."""

PER_SKU_DESCRIPTION: Final = (
    "A SKU may appear on several lines; its lines total at most 10 000 units."
)
