"""In-memory repositories for the returns use cases: the unit tests' stand-in for PostgreSQL.

Every repository works on one :class:`ReturnsTables` (plain dicts of rows, like the schema's
tables, in ``fake_tables.py``), so what one repository writes another reads, as in SQL; tests
look at the rows with :func:`tables_of`. Everything is deep-copyable: ``FakeTransactions.begin``
restores a copy when a block raises. mypy checks the in-memory classes against the port
protocols where :func:`in_memory_repositories` builds :class:`ReturnsRepositories` from them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from orderflow_chassis.clock import SettableClock
from orderflow_chassis.testing import FakeTransactions
from orderflow_contracts.events import OrderPlaced, PostalAddress, WarrantyClaimFiled
from orderflow_contracts.events.payments import REFUND_FAILURES_THAT_MAY_HAVE_PAID
from orderflow_contracts.money import Currency, Money
from orderflow_returns.domain.refunds import OrderSnapshot, PaidLine
from orderflow_returns.domain.returns import Delivery
from orderflow_returns.ports import (
    HeldKey,
    HeldRequest,
    RefundRecord,
    RequestKind,
    ReturnsRepositories,
)

from services.returns.tests.fake_rmas import InMemoryRmas
from services.returns.tests.fake_tables import (
    InMemory,
    ReturnsTables,
    StoredAnswer,
    StoredDelivery,
    StoredOrder,
    StoredRefund,
)

# ------------------------------------------------------------------------- repositories


class InMemoryOrders(InMemory):
    async def lock(self, order_id: uuid.UUID) -> None:
        self.tables.locked_orders.append(order_id)

    async def lock_all(self, order_ids: Iterable[uuid.UUID]) -> None:
        self.tables.locked_orders.extend(sorted(set(order_ids)))

    async def record_order(self, event: OrderPlaced, placed_at: datetime) -> bool:
        if event.order_id in self.tables.orders:
            return False
        lines: dict[str, PaidLine] = {}
        for line in event.lines:  # one SKU on two lines: one line of the summed quantity
            before = lines.get(line.sku)
            lines[line.sku] = PaidLine(
                line.sku,
                line.quantity + (before.quantity if before else 0),
                (line.line_total + before.line_total) if before else line.line_total,
            )
        self.tables.orders[event.order_id] = StoredOrder(
            event.customer_id,
            event.currency,
            lines,
            event.shipping_fee,
            event.total,
            event.ship_to,
            placed_at,
        )
        return True

    async def record_delivery(
        self,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        lines: Sequence[tuple[str, int]],
        delivered_at: datetime,
        *,
        replacement: bool,
    ) -> bool:
        inserted = False
        for sku, quantity in lines:
            if (shipment_id, sku) not in self.tables.deliveries:
                self.tables.deliveries[(shipment_id, sku)] = StoredDelivery(
                    order_id, sku, quantity, delivered_at, replacement
                )
                inserted = True
        return inserted

    async def record_capture(
        self, order_id: uuid.UUID, payment_id: uuid.UUID, amount: Money
    ) -> bool:
        if payment_id in self.tables.captures:
            return False
        self.tables.captures[payment_id] = (order_id, amount)
        return True

    async def customer_of(self, order_id: uuid.UUID) -> str | None:
        order = self.tables.orders.get(order_id)
        return order.customer_id if order else None

    async def ordered_units(self, order_id: uuid.UUID) -> dict[str, int]:
        order = self.tables.orders.get(order_id)
        return {sku: line.quantity for sku, line in order.lines.items()} if order else {}

    async def deliveries(self, order_id: uuid.UUID) -> list[Delivery]:
        paid_for = sorted(
            (
                (row.delivered_at, shipment_id, row)
                for (shipment_id, _), row in self.tables.deliveries.items()
                if row.order_id == order_id and not row.replacement
            ),
            key=lambda entry: (entry[0], entry[1]),
        )
        return [Delivery(row.sku, row.quantity, row.delivered_at) for _, _, row in paid_for]

    async def snapshot(self, order_id: uuid.UUID) -> OrderSnapshot | None:
        order = self.tables.orders.get(order_id)
        if order is None:
            return None
        return OrderSnapshot(order.currency, dict(order.lines), order.shipping_fee, order.total)

    async def ship_to(self, order_id: uuid.UUID) -> PostalAddress:
        return self.tables.orders[order_id].ship_to

    async def captured(self, order_id: uuid.UUID, currency: Currency) -> Money | None:
        amounts = [
            amount
            for order, amount in self.tables.captures.values()
            if order == order_id and amount.currency == currency
        ]
        return Money.total(amounts, currency) if amounts else None


class InMemoryReturnRequests(InMemory):
    async def known(self, order_id: uuid.UUID, request_id: str) -> bool:
        return (order_id, request_id) in self.tables.return_requests

    async def record(
        self,
        order_id: uuid.UUID,
        request_id: str,
        *,
        outcome: str,
        requested_at: datetime,
        decided_at: datetime,
        rma_id: uuid.UUID | None = None,
        reason_code: str | None = None,
        message: str | None = None,
    ) -> None:
        key = (order_id, request_id)
        assert key not in self.tables.return_requests, "primary key (order, request) violated"
        self.tables.return_requests[key] = StoredAnswer(
            outcome, requested_at, decided_at, rma_id, reason_code, message
        )


class InMemoryHeldRequests(InMemory):
    async def hold(self, request: HeldRequest) -> None:
        key = (request.order_id, request.kind, request.request_id)
        if key in self.tables.held_requests:
            return
        if request.read_marks is not None:
            self.tables.held_read_marks[key] = request.read_marks
        if request.failures:
            self.tables.held_failures[key] = request.failures
        self.tables.held_requests[key] = dataclasses.replace(request, read_marks=None, failures=0)

    async def release(self, order_id: uuid.UUID) -> list[HeldRequest]:
        keys = [key for key in self.tables.held_requests if key[0] == order_id]
        held = [
            dataclasses.replace(
                self.tables.held_requests.pop(key),
                read_marks=self.tables.held_read_marks.pop(key, None),
                failures=self.tables.held_failures.pop(key, 0),
            )
            for key in keys
        ]
        return sorted(held, key=lambda request: request.held_until)

    async def due(
        self, now: datetime, limit: int, *, after: tuple[datetime, HeldKey] | None = None
    ) -> list[tuple[HeldKey, Mapping[str, int] | None, datetime]]:
        def position(request: HeldRequest) -> tuple[datetime, str, str, str]:
            return (request.held_until, str(request.order_id), request.kind, request.request_id)

        start = None if after is None else (after[0], *(str(part) for part in after[1]))
        due = sorted(
            (
                r
                for r in self.tables.held_requests.values()
                if r.held_until <= now and (start is None or position(r) > start)
            ),
            key=position,
        )
        return [
            (
                (r.order_id, r.kind, r.request_id),
                self.tables.held_read_marks.get((r.order_id, r.kind, r.request_id)),
                r.held_until,
            )
            for r in due[:limit]
        ]

    async def mark(self, keys: Sequence[HeldKey], marks: Mapping[str, int]) -> None:
        for key in keys:
            if key in self.tables.held_requests:
                self.tables.held_read_marks.setdefault(key, dict(marks))

    async def read_positions(self, consumer: str) -> Mapping[str, int]:
        positions = self.tables.consumer_positions
        return {key: offset for (group, key), offset in positions.items() if group == consumer}

    async def take(
        self, order_id: uuid.UUID, kind: RequestKind, request_id: str
    ) -> HeldRequest | None:
        marks = self.tables.held_read_marks.pop((order_id, kind, request_id), None)
        failures = self.tables.held_failures.pop((order_id, kind, request_id), 0)
        held = self.tables.held_requests.pop((order_id, kind, request_id), None)
        if held is None:
            return None
        return dataclasses.replace(held, read_marks=marks, failures=failures)

    async def postpone(
        self,
        order_id: uuid.UUID,
        kind: RequestKind,
        request_id: str,
        until: datetime,
        *,
        failed: bool = False,
    ) -> int:
        key = (order_id, kind, request_id)
        if key not in self.tables.held_requests:
            return 0
        held = self.tables.held_requests[key]
        self.tables.held_requests[key] = dataclasses.replace(held, held_until=until)
        failures = self.tables.held_failures.get(key, 0) + int(failed)
        self.tables.held_failures[key] = failures
        return failures


class InMemoryRefunds(InMemory):
    async def request(
        self,
        *,
        refund_id: uuid.UUID,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        attempt: int,
        amount: Money,
        shipping_refund: Money,
        at: datetime,
    ) -> None:
        assert refund_id not in self.tables.refunds, "primary key (refund_id) violated"
        self.tables.refunds[refund_id] = StoredRefund(
            order_id, rma_id, attempt, "rma", "requested", amount, shipping_refund, at
        )

    async def get(self, refund_id: uuid.UUID, *, for_update: bool = False) -> RefundRecord | None:
        row = self.tables.refunds.get(refund_id)
        if row is None:
            return None
        failure_code = row.failure[0] if row.failure else None
        return RefundRecord(
            refund_id, row.order_id, row.rma_id, row.origin, row.state, row.amount, failure_code
        )

    async def ask_again(self, refund_id: uuid.UUID, *, at: datetime) -> None:
        row = self.tables.refunds[refund_id]
        if row.state == "failed":
            row.state, row.requested_at, row.settled_at, row.failure = "requested", at, None, None

    async def settle(
        self,
        refund_id: uuid.UUID,
        state: str,
        *,
        at: datetime,
        failure: tuple[str, str] | None = None,
    ) -> None:
        row = self.tables.refunds[refund_id]
        row.state, row.settled_at, row.failure = state, at, failure

    async def record_external(
        self, refund_id: uuid.UUID, order_id: uuid.UUID, amount: Money, at: datetime
    ) -> None:
        self.tables.refunds.setdefault(
            refund_id,
            StoredRefund(
                order_id,
                None,
                None,
                "payment",
                "issued",
                amount,
                Money.zero(amount.currency),
                settled_at=at,
            ),
        )

    async def committed(self, order_id: uuid.UUID, currency: Currency) -> Money:
        return Money.total(
            (
                row.amount
                for row in self.tables.refunds.values()
                if row.order_id == order_id
                and row.amount.currency == currency
                and (
                    row.state in ("requested", "issued")
                    or (
                        row.state == "failed"
                        and row.failure is not None
                        and row.failure[0] in REFUND_FAILURES_THAT_MAY_HAVE_PAID
                    )
                )
            ),
            currency,
        )


class InMemoryWarrantyClaims(InMemory):
    async def known(self, order_id: uuid.UUID, claim_id: str) -> bool:
        return (order_id, claim_id) in self.tables.claims

    async def claimed_units(self, order_id: uuid.UUID, sku: str) -> int:
        units = self.tables.warranty_units
        return sum(1 for order, unit_sku, _ in units if (order, unit_sku) == (order_id, sku))

    async def record(
        self,
        claim: WarrantyClaimFiled,
        *,
        outcome: str,
        filed_at: datetime,
        decided_at: datetime,
        reason_code: str | None = None,
        message: str | None = None,
        term_months: int | None = None,
        warranty_ends_on: date | None = None,
        units: range = range(0),
    ) -> None:
        key = (claim.order_id, claim.claim_id)
        assert key not in self.tables.claims, "primary key (order, claim) violated"
        self.tables.claims[key] = StoredAnswer(
            outcome,
            filed_at,
            decided_at,
            reason_code=reason_code,
            message=message,
            term_months=term_months,
            warranty_ends_on=warranty_ends_on,
        )
        for unit in units:
            unit_key = (claim.order_id, claim.sku, unit)
            assert unit_key not in self.tables.warranty_units, "a unit is replaced only once"
            self.tables.warranty_units[unit_key] = claim.claim_id


# ------------------------------------------------------------------------------ helpers


def in_memory_repositories(tables: ReturnsTables | None = None) -> ReturnsRepositories:
    tables = tables if tables is not None else ReturnsTables()
    rmas = InMemoryRmas(tables)
    return ReturnsRepositories(
        orders=InMemoryOrders(tables),
        return_requests=InMemoryReturnRequests(tables),
        held_requests=InMemoryHeldRequests(tables),
        rmas=rmas,
        refunds=InMemoryRefunds(tables),
        warranty_claims=InMemoryWarrantyClaims(tables),
        reports=rmas,
    )


def fake_transactions(now: datetime) -> FakeTransactions[ReturnsRepositories]:
    """Units of work over empty in-memory tables, on a clock set to ``now``."""
    return FakeTransactions(in_memory_repositories(), SettableClock(now))


def tables_of(transactions: FakeTransactions[ReturnsRepositories]) -> ReturnsTables:
    """The rows behind ``transactions`` now (after a rolled-back block too)."""
    orders = transactions.repos.orders
    assert isinstance(orders, InMemoryOrders)
    return orders.tables


class FakeDeliveryReads:
    """Read marks on one stand-in partition: ``published`` records are on it, the consumer
    applied them up to ``applied_up_to`` (the tables' ``consumer_positions``)."""

    consumer = "returns.events"
    partition = "fulfillment/0"

    def __init__(self, transactions: FakeTransactions[ReturnsRepositories]) -> None:
        self._transactions = transactions  # its tables now: a rolled-back block replaces them
        self.published = 0
        self.taken = 0
        self.unavailable = False

    async def take(self) -> dict[str, int]:
        if self.unavailable:
            raise ConnectionError("Kafka is away")
        self.taken += 1
        return {self.partition: self.published}

    @property
    def tables(self) -> ReturnsTables:
        return tables_of(self._transactions)

    @property
    def applied_up_to(self) -> int:
        return self.tables.consumer_positions.get((self.consumer, self.partition), 0)

    @applied_up_to.setter
    def applied_up_to(self, offset: int) -> None:
        self.tables.consumer_positions[self.consumer, self.partition] = offset
