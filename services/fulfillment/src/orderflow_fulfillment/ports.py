"""What fulfillment's use cases need from storage: one protocol per repository, the records
they exchange, and :class:`FulfillmentRepositories`, which a unit of work carries.

The SQL implementations are in ``adapters/``; unit tests use the in-memory ones of
``tests/fakes.py``. Each protocol lists only what a use case calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import PostalAddress

from orderflow_fulfillment.domain.allocation import Allocation, Availability, Line, Warehouse
from orderflow_fulfillment.domain.shipments import AnomalyReason, OrderStatus, ShipmentStatus
from orderflow_fulfillment.domain.stock import CLOCK_AHEAD_TOLERANCE, CountOutcome
from orderflow_fulfillment.domain.stock_file import StockFile, WarehouseEntry

# ------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class NamedLine:
    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class OrderRecord:
    order_id: uuid.UUID
    status: OrderStatus
    ship_to: PostalAddress | None
    shipping_service: str | None
    correlation_id: str
    expires_at: datetime | None
    release_reason: str | None


@dataclass(frozen=True)
class ShipmentRecord:
    shipment_id: uuid.UUID
    order_id: uuid.UUID
    warehouse_id: str
    status: ShipmentStatus
    replacement: bool
    claim_id: str | None
    ship_to: PostalAddress
    shipping_service: str
    carrier: str | None
    tracking_number: str | None
    dispatched_at: datetime | None
    delivered_at: datetime | None
    lines: tuple[NamedLine, ...]
    requested_at: datetime | None = None  # asked of the warehouse (our clock); None: not yet

    def allocations(self) -> list[Allocation]:
        return [Allocation(self.warehouse_id, line.sku, line.quantity) for line in self.lines]


@dataclass(frozen=True)
class RmaRecord:
    rma_id: uuid.UUID
    order_id: uuid.UUID | None
    authorized_lines: dict[str, int] | None
    received_warehouse_id: str | None
    received_at: datetime | None
    restocked: dict[str, int] | None
    written_off: dict[str, int] | None
    restocked_reported: bool
    correlation_id: str | None


@dataclass(frozen=True)
class ReplacementRecord:
    order_id: uuid.UUID
    claim_id: str
    lines: tuple[Line, ...]
    ship_to: PostalAddress
    correlation_id: str
    attempts: int


@dataclass(frozen=True)
class StockLevel:
    warehouse_id: str
    sku: str
    on_hand: int
    reserved: int
    counted_at: datetime | None
    unfound: int = 0
    """Reserved units the last count did not find (on_hand holds them for their reservation)."""
    loaded_at: datetime | None = None
    """When an operator's stock load last set the figure: counts and restocks stamped at or
    before it are already in that figure."""

    @property
    def stale_before(self) -> datetime | None:
        """A count (or restock) stamped at or before this is already in the figure: the last
        count, or a later load."""
        dates = [d for d in (self.counted_at, self.loaded_at) if d is not None]
        return max(dates, default=None)

    @property
    def lowers_only_until(self) -> datetime | None:
        """A count stamped at or before this may predate the last load: it may only lower the
        figure (see ``domain.stock.reconcile_count``)."""
        return self.loaded_at + CLOCK_AHEAD_TOLERANCE if self.loaded_at is not None else None

    @property
    def restock_seen_before(self) -> datetime | None:
        """A restock stamped at or before this is already in the figure: the last count (the
        warehouse's clock, as the restock's), or a later load (ours) plus how far ahead the
        warehouse's clock may run (see ``domain.stock``)."""
        dates = [d for d in (self.counted_at, self.lowers_only_until) if d is not None]
        return max(dates, default=None)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


# ---------------------------------------------------------------------------- protocols


class Stock(Protocol):
    """Stock per (warehouse, SKU), its movements, and the warehouses themselves."""

    async def warehouses(self) -> list[Warehouse]: ...

    async def warehouse_exists(self, warehouse_id: str) -> bool: ...

    async def stocked_skus(self, skus: Iterable[str]) -> set[str]:
        """Those of ``skus`` that some warehouse has a stock row for (even at zero)."""
        ...

    async def availability(self, skus: Iterable[str]) -> Availability: ...

    async def try_reserve(self, allocations: Sequence[Allocation]) -> bool:
        """Reserve every allocation, or none if one no longer fits (never oversell)."""
        ...

    async def release(self, allocations: Sequence[Allocation]) -> None: ...

    async def dispatch(
        self, allocations: Sequence[Allocation], *, occurred_at: datetime, reference: str
    ) -> None:
        """A shipment's units left the warehouse (see ``movement_changes_on_hand``)."""
        ...

    async def redate_dispatch(
        self, allocations: Sequence[Allocation], *, dispatched_at: datetime, reference: str
    ) -> None:
        """The dispatch a delivery implied happened at ``dispatched_at`` (its late report)."""
        ...

    async def restock(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None: ...

    async def write_off(
        self, warehouse_id: str, sku: str, quantity: int, *, occurred_at: datetime, reference: str
    ) -> None: ...

    async def apply_count(
        self, warehouse_id: str, sku: str, counted: int, *, counted_at: datetime, reference: str
    ) -> CountOutcome: ...

    async def load(
        self, entry: WarehouseEntry, *, only_missing: bool, at: datetime, reference: str
    ) -> dict[str, int]:
        """Upsert the warehouse and its figures; returns what was set per SKU."""
        ...

    async def levels(
        self, *, sku: str | None = None, warehouse_id: str | None = None
    ) -> list[StockLevel]: ...


class Orders(Protocol):
    """Orders as fulfillment knows them, and their lines."""

    async def lock_order(self, order_id: uuid.UUID, *, lock: bool = True) -> OrderRecord | None:
        """The order, row-locked until the transaction ends (``lock=False`` for reads)."""
        ...

    async def insert_order(
        self,
        order_id: uuid.UUID,
        *,
        status: OrderStatus,
        ship_to: PostalAddress | None,
        shipping_service: str | None,
        correlation_id: str,
        lines: Sequence[NamedLine] = (),
        reserved_at: datetime | None = None,
        expires_at: datetime | None = None,
        released_at: datetime | None = None,
        release_reason: str | None = None,
    ) -> bool:
        """Insert the order; False if it exists already (another event got there first)."""
        ...

    async def place_released(
        self,
        order_id: uuid.UUID,
        *,
        ship_to: PostalAddress,
        shipping_service: str,
        lines: Sequence[NamedLine],
    ) -> str | None:
        """Record what was placed for an order whose outcome (declined, voided, cancelled) was
        read before it. Returns the release reason the first time; None if the order is not
        such an order or its placement was recorded already."""
        ...

    async def update_order(
        self,
        order_id: uuid.UUID,
        status: OrderStatus,
        *,
        released_at: datetime | None = None,
        release_reason: str | None = None,
        captured_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> None: ...

    async def order_lines(self, order_id: uuid.UUID) -> list[NamedLine]: ...

    async def line_names(self, order_id: uuid.UUID) -> dict[str, str]: ...

    async def expired_reservations(
        self, now: datetime, limit: int, *, skipping: Sequence[uuid.UUID] = ()
    ) -> list[uuid.UUID]:
        """Reserved orders past their expiry, oldest first, locked; rows another transaction
        holds are skipped (it is deciding their fate right now), and so are ``skipping``."""
        ...

    async def read_positions(self, consumer: str) -> Mapping[str, int]:
        """``consumer``'s stored positions, keyed as read marks are
        (``orderflow_chassis.read_marks``)."""
        ...


class PaymentReads(Protocol):
    """Marks on the topics a reservation's payment outcome or cancellation comes on
    (``orderflow_chassis.read_marks``): a reservation is released as expired only once this
    service's consumer reached marks taken after it expired."""

    @property
    def consumer(self) -> str:
        """The consumer group whose stored positions must reach the marks."""
        ...

    async def take(self) -> dict[str, int]:
        """The topics' end offsets now."""
        ...


class Shipments(Protocol):
    async def insert_shipment(
        self,
        shipment_id: uuid.UUID,
        *,
        order_id: uuid.UUID,
        warehouse_id: str,
        status: ShipmentStatus,
        lines: Sequence[NamedLine],
        ship_to: PostalAddress,
        shipping_service: str,
        replacement: bool = False,
        claim_id: str | None = None,
        requested_at: datetime | None = None,
    ) -> None: ...

    async def shipments_of(self, order_id: uuid.UUID) -> list[ShipmentRecord]:
        """An order's shipments, oldest first."""
        ...

    async def lock_shipment(self, shipment_id: uuid.UUID) -> ShipmentRecord | None: ...

    async def set_shipment_status(
        self, shipment_ids: Sequence[uuid.UUID], status: ShipmentStatus, *, at: datetime
    ) -> None:
        """Only ``REQUESTED`` and ``RELEASED`` are set this way."""
        ...

    async def mark_dispatched(
        self,
        shipment_id: uuid.UUID,
        *,
        carrier: str,
        tracking_number: str,
        dispatched_at: datetime,
        keep_status: bool = False,
    ) -> None: ...

    async def mark_delivered(self, shipment_id: uuid.UUID, *, delivered_at: datetime) -> None: ...


class Replacements(Protocol):
    async def insert_replacement(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        lines: Sequence[Line],
        ship_to: PostalAddress,
        correlation_id: str,
    ) -> bool:
        """False if this claim's replacement is known already."""
        ...

    async def replacement_attempted(
        self,
        order_id: uuid.UUID,
        claim_id: str,
        *,
        attempted_at: datetime,
        requested_at: datetime | None,
    ) -> None:
        """One more attempt; ``requested_at`` set means it was requested from a warehouse."""
        ...

    async def correlation_of(self, order_id: uuid.UUID, claim_id: str) -> str | None:
        """The journey a claim's replacement belongs to (its warranty claim's), if known."""
        ...

    async def backordered_replacements(
        self,
        limit: int,
        *,
        tried_before: datetime,
        skipping: Sequence[tuple[uuid.UUID, str]] = (),
    ) -> list[ReplacementRecord]:
        """Replacements waiting for stock not tried since ``tried_before``, least recently
        tried first, locked; those another transaction holds and ``skipping`` (order id,
        claim id) left out."""
        ...

    async def retry_first(self, skus: Collection[str]) -> None:
        """Replacements waiting for one of ``skus`` (which got stock) are tried first next
        time; those the retry job holds now are left alone (it is trying them)."""
        ...


class Rmas(Protocol):
    async def lock_rma(self, rma_id: uuid.UUID) -> RmaRecord:
        """The RMA, created empty if new, locked: its authorisation and its parcel can be
        applied concurrently (two topics) and must see each other."""
        ...

    async def authorize_rma(
        self,
        rma_id: uuid.UUID,
        *,
        order_id: uuid.UUID,
        lines: dict[str, int],
        return_by: date,
        authorized_at: datetime,
        correlation_id: str,
    ) -> None: ...

    async def receive_rma(
        self,
        rma_id: uuid.UUID,
        *,
        warehouse_id: str,
        received_lines: list[dict[str, Any]],
        received_at: datetime,
        restocked: dict[str, int],
        written_off: dict[str, int],
    ) -> None: ...

    async def mark_restock_reported(self, rma_id: uuid.UUID) -> None: ...


class Anomalies(Protocol):
    """Events that did not fit the state they met (see ``domain.shipments.AnomalyReason``)."""

    async def record(
        self,
        reason: AnomalyReason,
        *,
        cause: Envelope | None = None,
        order_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
        rma_id: uuid.UUID | None = None,
        warehouse_id: str | None = None,
        sku: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    async def newest(self, *, reason: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recorded anomalies, newest first, as JSON-ready mappings (ids as strings)."""
        ...


class LockAhead(Protocol):
    """Locks, in one global order, what a batch of work will touch (see the adapter):
    ``orders``; the stock of ``releasing`` orders (a reservation given back), of the lines of
    warehouse-reported ``shipments`` (dispatched), and of ``skus``; the orders of
    ``shipments`` and ``rmas``. What it locks the repositories hand out for the rest of the
    transaction without a query: the orders, and with ``read_shipments`` their shipments."""

    async def lock_ahead(
        self,
        *,
        orders: Iterable[uuid.UUID] = (),
        releasing: Iterable[uuid.UUID] = (),
        shipments: Iterable[uuid.UUID] = (),
        rmas: Iterable[uuid.UUID] = (),
        skus: Iterable[str] = (),
        read_shipments: bool = False,
    ) -> None: ...


@dataclass(frozen=True)
class FulfillmentRepositories:
    """Every repository of fulfillment, bound to one unit of work's transaction."""

    stock: Stock
    orders: Orders
    shipments: Shipments
    replacements: Replacements
    rmas: Rmas
    anomalies: Anomalies
    locks: LockAhead


StockFileReader = Callable[[str], StockFile]
"""Reads a stock file: ``package:NAME`` (shipped with the service) or a path."""
