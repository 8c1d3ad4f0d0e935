"""Reconciliation rules: three records of the same money must agree.

For each order, what the payment service believes (``payments``, ``refunds``), what its ledger
says, and what the provider itself recorded must tell the same story:

* captured - refunded = the ledger's ``provider_receivable`` balance = the provider's approved
  captures - approved refunds;
* no refund exceeds the capture (ours and the provider's);
* nothing was captured (or authorised) twice, in the ledger or at the provider;
* the authorisation hold is open in the ledger, and at the provider, exactly while the
  payment is authorised (an authorisation the provider made but we never recorded shows up);
* the refunds we recorded add up to the refunded amount.

And the ledger balances per currency. Amounts are integer minor units. Pure functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OrderFigures:
    """Everything known about one order's money, from the three records."""

    order_id: uuid.UUID
    currency: str
    status: str | None
    authorised: int
    captured: int
    refunded: int
    refunds_issued: int
    ledger_receivable: int
    ledger_holds: int
    ledger_captures: int
    provider_authorisations: int
    provider_open_authorisations: int
    provider_captures: int
    provider_captured: int
    provider_refunded: int
    provider_currency_mismatch: bool = False


@dataclass(frozen=True)
class RecordedFigures:
    """One order's money as the service and its ledger recorded it (our two records)."""

    order_id: uuid.UUID
    currency: str | None
    status: str | None
    authorised: int
    captured: int
    refunded: int
    refunds_issued: int
    ledger_receivable: int
    ledger_holds: int
    ledger_captures: int


@dataclass(frozen=True)
class ProviderTotals:
    """One order's money as the provider recorded it (by merchant reference = order id)."""

    authorisations: int = 0
    open_authorisations: int = 0
    captures: int = 0
    captured: int = 0
    refunded: int = 0
    currencies: frozenset[str] = frozenset()


def order_figures(ours: RecordedFigures, theirs: ProviderTotals) -> OrderFigures:
    """The three records of one order side by side (the provider may know an order we do not
    have a payment for: its currency is then the provider's)."""
    currency = (ours.currency or next(iter(theirs.currencies), "???")).strip()
    return OrderFigures(
        order_id=ours.order_id,
        currency=currency,
        status=ours.status,
        authorised=ours.authorised,
        captured=ours.captured,
        refunded=ours.refunded,
        refunds_issued=ours.refunds_issued,
        ledger_receivable=ours.ledger_receivable,
        ledger_holds=ours.ledger_holds,
        ledger_captures=ours.ledger_captures,
        provider_authorisations=theirs.authorisations,
        provider_open_authorisations=theirs.open_authorisations,
        provider_captures=theirs.captures,
        provider_captured=theirs.captured,
        provider_refunded=theirs.refunded,
        provider_currency_mismatch=bool(theirs.currencies - {currency}),
    )


@dataclass(frozen=True)
class Selection:
    """The orders to check, and those left out because they were touched too recently."""

    orders: list[uuid.UUID]
    in_flight: list[uuid.UUID]


@dataclass(frozen=True)
class Mismatch:
    code: str
    detail: str


@dataclass
class OrderResult:
    figures: OrderFigures
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass
class Report:
    orders: list[OrderResult]
    ledger_balances: dict[str, int]
    ledger_mismatches: list[Mismatch]

    @property
    def mismatches(self) -> list[Mismatch]:
        found = list(self.ledger_mismatches)
        for order in self.orders:
            found.extend(order.mismatches)
        return found

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check_order(figures: OrderFigures) -> OrderResult:
    f = figures
    result = OrderResult(f)
    found = result.mismatches
    net = f.captured - f.refunded
    if f.ledger_receivable != net:
        found.append(
            Mismatch(
                "ledger_mismatch",
                f"ledger receivable {f.ledger_receivable} != captured {f.captured} "
                f"- refunded {f.refunded}",
            )
        )
    provider_net = f.provider_captured - f.provider_refunded
    if provider_net != net:
        found.append(
            Mismatch(
                "provider_mismatch",
                f"provider net {provider_net} (captured {f.provider_captured} - refunded "
                f"{f.provider_refunded}) != ours {net}",
            )
        )
    if f.refunded > f.captured or f.provider_refunded > f.provider_captured:
        found.append(Mismatch("refund_exceeds_capture", "more refunded than captured"))
    if f.ledger_captures > 1 or f.provider_captures > 1:
        found.append(
            Mismatch(
                "captured_twice",
                f"{f.ledger_captures} ledger captures, {f.provider_captures} at the provider",
            )
        )
    if f.provider_authorisations > 1:
        found.append(
            Mismatch("authorised_twice", f"{f.provider_authorisations} provider authorisations")
        )
    expected_hold = f.authorised if f.status == "authorised" else 0
    if f.ledger_holds != expected_hold:
        found.append(
            Mismatch(
                "hold_mismatch",
                f"open hold {f.ledger_holds} in the ledger, expected {expected_hold} "
                f"for a {f.status} payment",
            )
        )
    if f.refunds_issued != f.refunded:
        found.append(
            Mismatch(
                "refunds_mismatch",
                f"issued refunds add up to {f.refunds_issued}, payment says {f.refunded}",
            )
        )
    expected_open = 1 if f.status == "authorised" else 0
    if f.provider_open_authorisations != expected_open:
        found.append(
            Mismatch(
                "provider_hold_mismatch",
                f"{f.provider_open_authorisations} open authorisation(s) at the provider, "
                f"expected {expected_open} for a {f.status} payment",
            )
        )
    if f.provider_currency_mismatch:
        found.append(Mismatch("currency_mismatch", "provider operations in another currency"))
    return result


def check_ledger_balances(balances: Mapping[str, int]) -> list[Mismatch]:
    return [
        Mismatch("ledger_unbalanced", f"{currency} entries sum to {total}, not 0")
        for currency, total in sorted(balances.items())
        if total != 0
    ]


def reconcile(figures: Iterable[OrderFigures], ledger_balances: Mapping[str, int]) -> Report:
    return Report(
        orders=[check_order(f) for f in figures],
        ledger_balances=dict(ledger_balances),
        ledger_mismatches=check_ledger_balances(ledger_balances),
    )


@dataclass
class ReconciliationRun:
    """A report, and which orders it covered."""

    report: Report
    selection: Selection
