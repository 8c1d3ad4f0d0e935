"""Money back: what a received parcel refunds, at the price actually paid.

* Each unit is refunded at what the customer paid for it in the order's currency, from the
  ``OrderPlaced`` snapshot. So that several partial returns of one line add up to exactly its
  ``line_total`` (never a cent more or less, whatever the rounding), the refund of a return is
  the difference of two cumulative shares, each rounded half-even to the minor unit::

      refund(k units, after p already refunded) = round(line_total * (p + k) / quantity)
                                                - round(line_total * p / quantity)

  With today's contract ``line_total == unit_price * quantity``, so this is exactly
  ``unit_price * k``; the rule keeps holding if lines ever carry discounts that do not divide.
* The shipping fee is refunded once, with the return that brings the last unit of the whole
  order back (every line, its full ordered quantity).
* Ceiling: a refund is never requested when it would take the order's refunds (requested,
  issued, or failed with an unknown outcome; ours or payment's own) above what was paid
  (captured, or the order total while no capture is known). Such a return is stopped for ops
  (``exceeds_paid``) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from orderflow_contracts.money import Currency, Money


@dataclass(frozen=True)
class PaidLine:
    sku: str
    quantity: int
    line_total: Money


@dataclass(frozen=True)
class OrderSnapshot:
    """What the customer paid for an order (from ``OrderPlaced``)."""

    currency: Currency
    lines: Mapping[str, PaidLine]
    shipping_fee: Money
    total: Money


@dataclass(frozen=True)
class RefundedLine:
    sku: str
    quantity: int
    amount: Money


@dataclass(frozen=True)
class RefundPlan:
    lines: tuple[RefundedLine, ...]
    shipping_refund: Money
    amount: Money
    whole_order_back: bool


@dataclass(frozen=True)
class RefundRefusal:
    """A refund that must not be requested; ops look at it (the RMA is ``refund_failed``)."""

    code: str
    message: str


EXCEEDS_PAID = "exceeds_paid"
UNPRICED_SKU = "unpriced_sku"
EXCEEDS_ORDERED = "exceeds_ordered"


def line_refund(line: PaidLine, already_refunded_units: int, units: int) -> Money:
    """The refund of ``units`` more units of ``line`` after ``already_refunded_units``."""
    if units < 0 or already_refunded_units < 0:
        raise ValueError("unit counts cannot be negative")
    if already_refunded_units + units > line.quantity:
        raise ValueError(f"{line.sku}: cannot refund more units than were ordered")
    return _share(line, already_refunded_units + units) - _share(line, already_refunded_units)


def _share(line: PaidLine, units: int) -> Money:
    return line.line_total.multiply(Decimal(units) / Decimal(line.quantity))


def plan_refund(
    order: OrderSnapshot,
    returned: Mapping[str, int],
    *,
    previously_refunded: Mapping[str, int],
    replaced: Mapping[str, int],
    shipping_already_refunded: bool,
    refundable: Money,
) -> RefundPlan | RefundRefusal:
    """Price the units of one received return.

    ``returned``: units per SKU accepted back with this parcel (received, at most authorised).
    ``previously_refunded``: units per SKU priced by earlier returns of the order.
    ``replaced``: units per SKU replaced under warranty (accepted claims): a unit is refunded
    or replaced, never both, so a parcel that would make it both stops for ops.
    ``refundable``: what may still be refunded for the order (paid minus refunds so far).
    """
    lines: list[RefundedLine] = []
    for sku, units in returned.items():
        if units == 0:
            continue
        paid = order.lines.get(sku)
        if paid is None:
            return RefundRefusal(UNPRICED_SKU, f"{sku} is not in the order as placed")
        before = previously_refunded.get(sku, 0)
        if before + units > paid.quantity:
            return RefundRefusal(
                EXCEEDS_ORDERED,
                f"{sku}: {before} + {units} units returned but {paid.quantity} ordered",
            )
        if (swapped := replaced.get(sku, 0)) and before + swapped + units > paid.quantity:
            return RefundRefusal(
                EXCEEDS_ORDERED,
                f"{sku}: {before} returned + {swapped} replaced under warranty + {units} in this "
                f"parcel, but {paid.quantity} ordered",
            )
        lines.append(RefundedLine(sku, units, line_refund(paid, before, units)))

    whole_order_back = all(
        previously_refunded.get(sku, 0) + returned.get(sku, 0) >= paid.quantity
        for sku, paid in order.lines.items()
    )
    shipping = (
        order.shipping_fee
        if whole_order_back and not shipping_already_refunded
        else Money.zero(order.currency)
    )
    amount = Money.total((line.amount for line in lines), order.currency) + shipping
    if amount > refundable:
        return RefundRefusal(
            EXCEEDS_PAID,
            f"refund of {amount} would exceed what is left to refund ({refundable})",
        )
    return RefundPlan(tuple(lines), shipping, amount, whole_order_back)
