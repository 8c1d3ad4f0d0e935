"""The rows of the returns tables, in memory: what the fake repositories (``fakes.py``,
``fake_rmas.py``) share, as the SQL repositories share the schema."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from orderflow_contracts.events import PostalAddress
from orderflow_contracts.money import Currency, Money
from orderflow_returns.domain.refunds import PaidLine
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.ports import HeldRequest

# ----------------------------------------------------------------------------------- rows


@dataclass
class StoredOrder:
    customer_id: str
    currency: Currency
    lines: dict[str, PaidLine]
    shipping_fee: Money
    total: Money
    ship_to: PostalAddress
    placed_at: datetime


@dataclass
class StoredDelivery:
    order_id: uuid.UUID
    sku: str
    quantity: int
    delivered_at: datetime
    replacement: bool


@dataclass
class StoredAnswer:
    """A return request's or a warranty claim's answer."""

    outcome: str
    requested_at: datetime
    decided_at: datetime
    rma_id: uuid.UUID | None = None
    reason_code: str | None = None
    message: str | None = None
    term_months: int | None = None
    warranty_ends_on: date | None = None


@dataclass
class StoredRmaLine:
    authorised: int
    received: int | None = None
    damaged: int | None = None
    returned: int | None = None
    refund_amount: Decimal | None = None


@dataclass
class StoredRma:
    rma_id: uuid.UUID
    order_id: uuid.UUID
    return_request_id: str
    correlation_id: str
    state: RmaState
    reason: str
    authorised_at: datetime
    return_by: date
    change: int  # orders "most recently changed" like updated_at does
    updated_at: datetime
    lines: dict[str, StoredRmaLine] = field(default_factory=dict)
    received_at: datetime | None = None
    warehouse_id: str | None = None
    current_refund_id: uuid.UUID | None = None
    refund_attempts: int = 0
    currency: Currency | None = None
    refund_amount: Decimal | None = None
    shipping_refund: Decimal | None = None
    problem_code: str | None = None
    problem_message: str | None = None
    closed_at: datetime | None = None


@dataclass
class StoredRefund:
    order_id: uuid.UUID
    rma_id: uuid.UUID | None
    attempt: int | None
    origin: str
    state: str
    amount: Money
    shipping_refund: Money
    requested_at: datetime | None = None
    settled_at: datetime | None = None
    failure: tuple[str, str] | None = None


@dataclass
class ReturnsTables:
    orders: dict[uuid.UUID, StoredOrder] = field(default_factory=dict)
    deliveries: dict[tuple[uuid.UUID, str], StoredDelivery] = field(default_factory=dict)
    captures: dict[uuid.UUID, tuple[uuid.UUID, Money]] = field(default_factory=dict)
    return_requests: dict[tuple[uuid.UUID, str], StoredAnswer] = field(default_factory=dict)
    rmas: dict[uuid.UUID, StoredRma] = field(default_factory=dict)
    refunds: dict[uuid.UUID, StoredRefund] = field(default_factory=dict)
    claims: dict[tuple[uuid.UUID, str], StoredAnswer] = field(default_factory=dict)
    warranty_units: dict[tuple[uuid.UUID, str, int], str] = field(default_factory=dict)
    held_requests: dict[tuple[uuid.UUID, str, str], HeldRequest] = field(default_factory=dict)
    held_read_marks: dict[tuple[uuid.UUID, str, str], Mapping[str, int]] = field(
        default_factory=dict
    )
    held_failures: dict[tuple[uuid.UUID, str, str], int] = field(default_factory=dict)
    # (consumer, "topic/partition") -> next offset applied: the chassis' consumer_positions.
    consumer_positions: dict[tuple[str, str], int] = field(default_factory=dict)
    locked_orders: list[uuid.UUID] = field(default_factory=list)
    changes: int = 0

    def next_change(self) -> int:
        self.changes += 1
        return self.changes


class InMemory:
    """A fake repository: a view of the shared tables."""

    def __init__(self, tables: ReturnsTables) -> None:
        self.tables = tables
