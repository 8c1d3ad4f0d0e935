"""What the payment use cases need from the outside world, as protocols.

The use cases in :mod:`orderflow_payment.handlers` see only these: the SQL adapters implement
them on the unit of work's connection, ``tests/fakes.py`` in memory. Each protocol lists only
the methods a use case calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orderflow_contracts.money import Money

from orderflow_payment.domain.ledger import LedgerTransaction
from orderflow_payment.domain.model import OrderFacts, Payment, RefundRecord, StockStatus
from orderflow_payment.domain.providers import PaymentProvider
from orderflow_payment.domain.reconciliation import ProviderTotals, RecordedFigures, Selection
from orderflow_payment.domain.views import OrderPaymentView


class PaymentRepository(Protocol):
    """One payment per order (``payments``), and the per-order lock every use case takes."""

    async def lock_order(self, order_id: uuid.UUID) -> None:
        """Serialise all work on one order until the transaction ends, across instances."""
        ...

    async def lock_orders(self, order_ids: Iterable[uuid.UUID]) -> None:
        """:meth:`lock_order` for many orders, taken in one global order (no deadlock)."""
        ...

    async def read_ahead(self, order_ids: Iterable[uuid.UUID]) -> None:
        """Read these orders' payments at once (after their locks), for ``get`` to hand out
        without a query until this transaction writes them."""
        ...

    async def get(self, order_id: uuid.UUID) -> Payment | None: ...

    async def add(
        self,
        payment: Payment,
        *,
        token_masked: str,
        caused_by: uuid.UUID,
        decline_code: str | None = None,
    ) -> bool:
        """Insert a new payment; False when the order already has one."""
        ...

    async def save(
        self,
        payment: Payment,
        *,
        void_reference: str | None = None,
        void_reason: str | None = None,
    ) -> None: ...

    async def expired_authorisations(self, now: datetime, *, limit: int) -> list[uuid.UUID]:
        """Orders whose authorisation expired at ``now`` or before: those never deferred
        first, oldest first, then the least recently deferred."""
        ...

    async def defer_expiry(self, order_id: uuid.UUID, now: datetime) -> None:
        """The order's void could not be done this round: it goes behind the others."""
        ...


class OrderFactRepository(Protocol):
    """What other services told payment about an order (``order_facts``)."""

    async def read_ahead(self, order_ids: Iterable[uuid.UUID]) -> None:
        """Read these orders' facts at once (after their locks), for ``facts`` to hand out
        without a query until this transaction writes them."""
        ...

    async def facts(self, order_id: uuid.UUID) -> OrderFacts: ...

    async def record_stock(self, order_id: uuid.UUID, status: StockStatus) -> None: ...

    async def record_cancellation(self, order_id: uuid.UUID, reason: str) -> None:
        """Keeps the first reason when an order is cancelled twice."""
        ...


class RefundRepository(Protocol):
    """One answer per refund id (``refunds``)."""

    async def lock(self, refund_id: uuid.UUID) -> None:
        """Until the transaction ends, no other asks for ``refund_id`` go on, whatever order
        they name (the order's lock does not cover one refund id sent for two orders)."""
        ...

    async def lock_all(self, refund_ids: Iterable[uuid.UUID]) -> None:
        """:meth:`lock` of every id at once, in one global order (a batch's, up front)."""
        ...

    async def get(self, refund_id: uuid.UUID) -> RefundRecord | None: ...

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
        """Record the answer (issued, or failed when ``failure_code`` is given); a retried
        refund id replaces its earlier failure."""
        ...


class LedgerRepository(Protocol):
    async def post(self, transaction: LedgerTransaction) -> bool:
        """Record ``transaction`` once; False when its idempotency key was already posted."""
        ...


class PaymentViewRepository(Protocol):
    """Reads for ops (HTTP)."""

    async def order_payment(self, order_id: uuid.UUID) -> OrderPaymentView: ...


class ReconciliationRepository(Protocol):
    """Our two records of the money (payments and refunds, the ledger), for reconciliation."""

    async def select_orders(
        self, *, since: datetime | None, only: Sequence[uuid.UUID] | None, settle_s: float
    ) -> Selection:
        """Orders with any record since ``since``; those touched in the last ``settle_s``
        seconds are in flight (the provider answered, our commit may not be visible yet)."""
        ...

    async def figures(self, order_ids: Sequence[uuid.UUID]) -> list[RecordedFigures]: ...

    async def ledger_balances(self, order_ids: Sequence[uuid.UUID] | None) -> dict[str, int]:
        """Sum of all entries per currency (of the given orders' transactions, or all)."""
        ...


class ProviderRecord(Protocol):
    """The provider's own record of what it did, per merchant reference (the order id)."""

    async def totals(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ProviderTotals]: ...


class PaymentProviders(Protocol):
    """Which provider serves a payment method; later operations go to the one that authorised.
    Both raise :class:`~orderflow_payment.domain.providers.UnknownProvider`."""

    def for_method(self, method: str) -> PaymentProvider: ...

    def named(self, name: str) -> PaymentProvider: ...


@dataclass(frozen=True)
class PaymentRepositories:
    """The repositories of one unit of work, all on its transaction."""

    payments: PaymentRepository
    order_facts: OrderFactRepository
    refunds: RefundRepository
    ledger: LedgerRepository
    views: PaymentViewRepository
    reconciliation: ReconciliationRepository
    provider_record: ProviderRecord
