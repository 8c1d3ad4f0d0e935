"""In-memory payment repositories, for unit tests of the use cases (the provider they call is
in ``fake_provider.py``).

The repositories share one :class:`Tables` (plain dicts and lists), so what one writes the
others read, as on PostgreSQL; :class:`FakeTransactions` deep-copies them to roll a failed
block back. Reads return copies: a use case that changes a payment without saving it changes
nothing, as with SQL.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import cast

from orderflow_chassis.clock import SettableClock
from orderflow_chassis.testing import FakeTransactions
from orderflow_contracts.money import Money
from orderflow_payment.domain.ledger import LedgerTransaction, TransactionKind
from orderflow_payment.domain.model import OrderFacts, Payment, RefundRecord, StockStatus
from orderflow_payment.domain.reconciliation import ProviderTotals, RecordedFigures, Selection
from orderflow_payment.domain.views import (
    LedgerEntryView,
    OrderPaymentView,
    PaymentView,
    RefundView,
)
from orderflow_payment.ports import (
    LedgerRepository,
    OrderFactRepository,
    PaymentRepositories,
    PaymentRepository,
    PaymentViewRepository,
    ProviderRecord,
    ReconciliationRepository,
    RefundRepository,
)

# ---------------------------------------------------------------------------- the tables


@dataclass
class PaymentRow:
    payment: Payment
    token_masked: str
    caused_by: uuid.UUID
    decline_code: str | None = None
    void_reference: str | None = None
    void_reason: str | None = None


@dataclass
class RefundRow:
    refund_id: uuid.UUID
    order_id: uuid.UUID
    payment_id: uuid.UUID | None
    rma_id: uuid.UUID | None
    amount: Money
    caused_by: uuid.UUID
    provider_reference: str | None
    failure_code: str | None
    failure_message: str | None

    @property
    def status(self) -> str:
        return "failed" if self.failure_code else "issued"


@dataclass
class LedgerRow:
    """One ledger entry, as ``ledger_entries`` joined with its transaction."""

    idempotency_key: str
    kind: TransactionKind
    order_id: uuid.UUID
    account: str
    currency: str
    amount_minor: int


@dataclass
class Tables:
    """What the payment schema holds, in memory (the sandbox's tables are the provider's)."""

    payments: dict[uuid.UUID, PaymentRow] = field(default_factory=dict)  # by order id
    order_facts: dict[uuid.UUID, OrderFacts] = field(default_factory=dict)
    refunds: dict[uuid.UUID, RefundRow] = field(default_factory=dict)
    ledger: list[LedgerRow] = field(default_factory=list)
    locked_orders: list[uuid.UUID] = field(default_factory=list)  # every lock_order call
    expiry_deferred_at: dict[uuid.UUID, datetime] = field(default_factory=dict)
    locked_refunds: list[uuid.UUID] = field(default_factory=list)  # every refunds.lock call
    refund_calls: list[tuple[str, uuid.UUID]] = field(default_factory=list)  # lock/get, in order
    batch_locks: list[str] = field(default_factory=list)  # lock_orders / lock_all, in order

    def payment(self, order_id: uuid.UUID) -> Payment:
        return self.payments[order_id].payment

    def ledger_of(self, order_id: uuid.UUID) -> list[tuple[str, str, int]]:
        return [
            (r.kind.value, r.account, r.amount_minor) for r in self.ledger if r.order_id == order_id
        ]


# ---------------------------------------------------------------------------- repositories


@dataclass
class InMemoryPayments:
    tables: Tables

    async def lock_order(self, order_id: uuid.UUID) -> None:
        self.tables.locked_orders.append(order_id)

    async def lock_orders(self, order_ids: Iterable[uuid.UUID]) -> None:
        self.tables.locked_orders.extend(sorted(order_ids))
        self.tables.batch_locks.append("orders")

    async def read_ahead(self, order_ids: Iterable[uuid.UUID]) -> None:
        """Nothing to read ahead: every read is from memory here."""

    async def get(self, order_id: uuid.UUID) -> Payment | None:
        row = self.tables.payments.get(order_id)
        return None if row is None else copy.deepcopy(row.payment)

    async def add(
        self,
        payment: Payment,
        *,
        token_masked: str,
        caused_by: uuid.UUID,
        decline_code: str | None = None,
    ) -> bool:
        if payment.order_id in self.tables.payments:
            return False
        self.tables.payments[payment.order_id] = PaymentRow(
            copy.deepcopy(payment), token_masked, caused_by, decline_code
        )
        return True

    async def save(
        self,
        payment: Payment,
        *,
        void_reference: str | None = None,
        void_reason: str | None = None,
    ) -> None:
        row = self.tables.payments[payment.order_id]
        row.payment = copy.deepcopy(payment)
        row.void_reference = void_reference or row.void_reference
        row.void_reason = void_reason or row.void_reason

    async def expired_authorisations(self, now: datetime, *, limit: int) -> list[uuid.UUID]:
        expired = [
            row.payment
            for row in self.tables.payments.values()
            if row.payment.status == "authorised"
            and row.payment.expires_at is not None
            and row.payment.expires_at <= now
        ]

        def position(payment: Payment) -> tuple[bool, datetime, datetime]:
            deferred = self.tables.expiry_deferred_at.get(payment.order_id)
            expires_at = cast(datetime, payment.expires_at)
            return (deferred is not None, deferred or expires_at, expires_at)

        expired.sort(key=position)
        return [payment.order_id for payment in expired[:limit]]

    async def defer_expiry(self, order_id: uuid.UUID, now: datetime) -> None:
        self.tables.expiry_deferred_at[order_id] = now


@dataclass
class InMemoryOrderFacts:
    tables: Tables

    async def read_ahead(self, order_ids: Iterable[uuid.UUID]) -> None:
        """Nothing to read ahead: every read is from memory here."""

    async def facts(self, order_id: uuid.UUID) -> OrderFacts:
        return self.tables.order_facts.get(order_id, OrderFacts())

    async def record_stock(self, order_id: uuid.UUID, status: StockStatus) -> None:
        facts = self.tables.order_facts.get(order_id, OrderFacts())
        self.tables.order_facts[order_id] = replace(facts, stock_status=status)

    async def record_cancellation(self, order_id: uuid.UUID, reason: str) -> None:
        facts = self.tables.order_facts.get(order_id, OrderFacts())
        first = facts.cancelled_reason or reason
        self.tables.order_facts[order_id] = replace(facts, cancelled_reason=first)


@dataclass
class InMemoryRefunds:
    tables: Tables

    async def lock_all(self, refund_ids: Iterable[uuid.UUID]) -> None:
        self.tables.locked_refunds.extend(sorted(set(refund_ids)))
        self.tables.batch_locks.append("refunds")

    async def lock(self, refund_id: uuid.UUID) -> None:
        self.tables.locked_refunds.append(refund_id)
        self.tables.refund_calls.append(("lock", refund_id))

    async def get(self, refund_id: uuid.UUID) -> RefundRecord | None:
        self.tables.refund_calls.append(("get", refund_id))
        row = self.tables.refunds.get(refund_id)
        if row is None:
            return None
        return RefundRecord(row.refund_id, row.order_id, row.status, row.amount, row.failure_code)

    async def save(
        self,
        *,
        refund_id: uuid.UUID,
        order_id: uuid.UUID,
        payment_id: uuid.UUID | None,
        rma_id: uuid.UUID | None,
        amount: Money,
        caused_by: uuid.UUID,
        provider_reference: str | None = None,
        failure_code: str | None = None,
        failure_message: str | None = None,
    ) -> None:
        self.tables.refunds[refund_id] = RefundRow(
            refund_id,
            order_id,
            payment_id,
            rma_id,
            amount,
            caused_by,
            provider_reference,
            failure_code,
            failure_message,
        )


@dataclass
class InMemoryLedger:
    tables: Tables

    async def post(self, transaction: LedgerTransaction) -> bool:
        if any(row.idempotency_key == transaction.idempotency_key for row in self.tables.ledger):
            return False
        self.tables.ledger.extend(
            LedgerRow(
                transaction.idempotency_key,
                transaction.kind,
                transaction.order_id,
                posting.account.value,
                posting.amount.currency.value,
                posting.amount.minor_units,
            )
            for posting in transaction.postings
        )
        return True


@dataclass
class InMemoryPaymentViews:
    tables: Tables

    async def order_payment(self, order_id: uuid.UUID) -> OrderPaymentView:
        facts = self.tables.order_facts.get(order_id)
        row = self.tables.payments.get(order_id)
        return OrderPaymentView(
            order_id=order_id,
            facts_recorded=facts is not None,
            stock=facts.stock_status.value if facts and facts.stock_status else None,
            cancelled_reason=facts.cancelled_reason if facts else None,
            payment=None if row is None else _payment_view(row),
            refunds=[
                RefundView(
                    r.refund_id,
                    r.rma_id,
                    r.status,
                    r.amount,
                    r.failure_code,
                    r.failure_message,
                    r.provider_reference,
                )
                for r in self.tables.refunds.values()
                if r.order_id == order_id
            ],
            ledger=[
                LedgerEntryView(
                    r.kind.value, r.account, Money.from_minor_units(r.amount_minor, r.currency)
                )
                for r in self.tables.ledger
                if r.order_id == order_id
            ],
        )


def _payment_view(row: PaymentRow) -> PaymentView:
    p = row.payment
    return PaymentView(
        payment_id=p.payment_id,
        status=p.status.value,
        method=p.method,
        provider=p.provider,
        token_masked=row.token_masked,
        amount=p.amount,
        captured=p.captured,
        refunded=p.refunded,
        authorisation_reference=p.authorisation_reference,
        capture_reference=p.capture_reference,
        decline_code=row.decline_code,
        void_reason=row.void_reason,
        expires_at=p.expires_at,
    )


@dataclass
class InMemoryReconciliation:
    """Our two records, summed from the tables. Activity times are not stored by the other
    fakes: a test says when each order was last touched (``touched_at``) and what time the
    database thinks it is (``now``)."""

    tables: Tables
    now: datetime
    touched_at: dict[uuid.UUID, datetime] = field(default_factory=dict)
    balance_scopes: list[list[uuid.UUID] | None] = field(default_factory=list)

    async def select_orders(
        self, *, since: datetime | None, only: Sequence[uuid.UUID] | None, settle_s: float
    ) -> Selection:
        settled: list[uuid.UUID] = []
        in_flight: list[uuid.UUID] = []
        for order_id, last in sorted(self.touched_at.items(), key=lambda item: item[1]):
            if (only and order_id not in only) or (since is not None and last < since):
                continue
            recent = (self.now - last).total_seconds() < settle_s
            (in_flight if recent else settled).append(order_id)
        return Selection(settled, in_flight)

    async def figures(self, order_ids: Sequence[uuid.UUID]) -> list[RecordedFigures]:
        return [self._figures(order_id) for order_id in order_ids]

    def _figures(self, order_id: uuid.UUID) -> RecordedFigures:
        row = self.tables.payments.get(order_id)
        rows = [r for r in self.tables.ledger if r.order_id == order_id]

        def balance(account: str) -> int:
            return sum(r.amount_minor for r in rows if r.account == account)

        issued = [
            r.amount.minor_units
            for r in self.tables.refunds.values()
            if r.order_id == order_id and r.status == "issued"
        ]
        captures = {r.idempotency_key for r in rows if r.kind is TransactionKind.CAPTURE}
        payment = row.payment if row else None
        return RecordedFigures(
            order_id=order_id,
            currency=payment.currency if payment else (rows[0].currency if rows else None),
            status=payment.status.value if payment else None,
            authorised=payment.amount.minor_units if payment else 0,
            captured=payment.captured.minor_units if payment else 0,
            refunded=payment.refunded.minor_units if payment else 0,
            refunds_issued=sum(issued),
            ledger_receivable=balance("provider_receivable"),
            ledger_holds=balance("authorisation_holds"),
            ledger_captures=len(captures),
        )

    async def ledger_balances(self, order_ids: Sequence[uuid.UUID] | None) -> dict[str, int]:
        self.balance_scopes.append(None if order_ids is None else list(order_ids))
        totals: dict[str, int] = {}
        for r in self.tables.ledger:
            if order_ids is None or r.order_id in order_ids:
                totals[r.currency] = totals.get(r.currency, 0) + r.amount_minor
        return dict(sorted(totals.items()))


@dataclass
class InMemoryProviderRecord:
    """What the provider says it did, per order, as a test sets it."""

    totals_by_order: dict[uuid.UUID, ProviderTotals] = field(default_factory=dict)
    asked: list[list[uuid.UUID]] = field(default_factory=list)

    async def totals(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ProviderTotals]:
        self.asked.append(list(order_ids))
        return {o: self.totals_by_order[o] for o in order_ids if o in self.totals_by_order}


# The fakes must satisfy the ports: mypy checks these assignments.
_PORTS: tuple[
    type[PaymentRepository],
    type[OrderFactRepository],
    type[RefundRepository],
    type[LedgerRepository],
    type[PaymentViewRepository],
    type[ReconciliationRepository],
    type[ProviderRecord],
] = (
    InMemoryPayments,
    InMemoryOrderFacts,
    InMemoryRefunds,
    InMemoryLedger,
    InMemoryPaymentViews,
    InMemoryReconciliation,
    InMemoryProviderRecord,
)


def in_memory_repositories(tables: Tables | None = None, *, now: datetime) -> PaymentRepositories:
    tables = tables or Tables()
    return PaymentRepositories(
        payments=InMemoryPayments(tables),
        order_facts=InMemoryOrderFacts(tables),
        refunds=InMemoryRefunds(tables),
        ledger=InMemoryLedger(tables),
        views=InMemoryPaymentViews(tables),
        reconciliation=InMemoryReconciliation(tables, now),
        provider_record=InMemoryProviderRecord(),
    )


def fake_transactions(clock: SettableClock | None = None) -> FakeTransactions[PaymentRepositories]:
    """Units of work over empty in-memory repositories."""
    clock = clock or SettableClock()
    return FakeTransactions(in_memory_repositories(now=clock.now()), clock)


def tables_of(transactions: FakeTransactions[PaymentRepositories]) -> Tables:
    """The tables behind the transactions' repositories (the current ones: a rolled-back
    block replaces them with a copy)."""
    return cast(InMemoryPayments, transactions.repos.payments).tables


def reconciliation_of(
    transactions: FakeTransactions[PaymentRepositories],
) -> InMemoryReconciliation:
    return cast(InMemoryReconciliation, transactions.repos.reconciliation)


def provider_record_of(
    transactions: FakeTransactions[PaymentRepositories],
) -> InMemoryProviderRecord:
    return cast(InMemoryProviderRecord, transactions.repos.provider_record)
