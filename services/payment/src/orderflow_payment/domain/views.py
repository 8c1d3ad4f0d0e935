"""What ops may see of one order's money: its payment (token masked), refunds and ledger rows.

A read model, not the aggregate: it carries what the aggregate does not need (the masked
token, the decline code, the void reason) and nothing a caller could change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from orderflow_contracts.money import Money


@dataclass(frozen=True)
class PaymentView:
    payment_id: uuid.UUID
    status: str
    method: str
    provider: str
    token_masked: str
    amount: Money
    captured: Money
    refunded: Money
    authorisation_reference: str | None
    capture_reference: str | None
    decline_code: str | None
    void_reason: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class RefundView:
    refund_id: uuid.UUID
    rma_id: uuid.UUID | None
    status: str
    amount: Money
    failure_code: str | None
    failure_message: str | None
    provider_reference: str | None


@dataclass(frozen=True)
class LedgerEntryView:
    kind: str
    account: str
    amount: Money


@dataclass(frozen=True)
class OrderPaymentView:
    """Everything payment recorded about one order. ``facts_recorded`` is whether any stock
    outcome or cancellation arrived (even with no payment yet)."""

    order_id: uuid.UUID
    facts_recorded: bool
    stock: str | None = None
    cancelled_reason: str | None = None
    payment: PaymentView | None = None
    refunds: list[RefundView] = field(default_factory=list)
    ledger: list[LedgerEntryView] = field(default_factory=list)

    @property
    def is_known(self) -> bool:
        """Payment has heard of this order at all (a refund asked for an order it never saw
        is stored, and answered not_captured, too)."""
        return self.payment is not None or self.facts_recorded or bool(self.refunds)
