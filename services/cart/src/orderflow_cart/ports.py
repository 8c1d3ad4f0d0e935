"""What the cart's use cases need from storage, as small protocols.

Use cases (``handlers/``) see only these; ``adapters/`` implements them on PostgreSQL, bound to
the unit of work's connection, and the tests' ``fakes.py`` in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import OrderPlaced
from orderflow_contracts.money import Currency

from orderflow_cart.domain.cart import Cart
from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.rates import FxRate
from orderflow_cart.domain.sequencing import Waiting
from orderflow_cart.order_status.ports import OrderStatuses


@dataclass(frozen=True)
class UnappliedEvent:
    event_id: UUID
    event_type: str
    sequence: int | None
    reason: str
    detail: str
    recorded_at: datetime


@dataclass(frozen=True)
class WaitingEvent:
    """An early event taken out of the reorder buffer: who it is, and its envelope as stored
    (read by :meth:`envelope`, which may fail: stored by another version, say)."""

    aggregate_id: str
    event_id: UUID
    event_type: str
    sequence: int
    document: Any

    def envelope(self) -> Envelope:
        return Envelope.model_validate(self.document)


@dataclass(frozen=True)
class SkippedSequences:
    first_sequence: int
    last_sequence: int
    skipped_at: datetime


@dataclass(frozen=True)
class CatalogEntry:
    product: Product
    on_sale: bool


@dataclass(frozen=True)
class CatalogLoadSummary:
    added: list[str]
    repriced: list[str]
    renamed: list[str]
    withdrawn: list[str]
    unchanged: int


class Carts(Protocol):
    """Carts, their reorder buffer and the ops records of what was not applied."""

    async def lock_all(self, cart_ids: Iterable[str], now: datetime) -> None:
        """Lock (creating the new ones) and read every one of these carts at once, so that
        ``lock`` answers for them without a query and ``save`` defers their writes to
        ``write_pending``, for the rest of this transaction."""
        ...

    async def lock(self, cart_id: str, now: datetime) -> Cart:
        """The cart, locked for this transaction; created (empty, open) if it is new."""
        ...

    async def get(self, cart_id: str) -> Cart | None: ...

    async def save(self, cart: Cart, now: datetime) -> None: ...

    async def write_pending(self) -> None:
        """Write the saves of carts ``lock_all`` locked: one statement for all."""
        ...

    async def waiting(self, cart_id: str) -> list[Waiting]:
        """The buffered (early) events of the cart, by sequence."""
        ...

    async def buffer(self, cart_id: str, envelope: Envelope, now: datetime) -> None: ...

    async def take_waiting(self, cart_id: str, sequence: int) -> WaitingEvent:
        """Remove a buffered event from the buffer and return it."""
        ...

    async def with_overdue_gaps(
        self, cutoff: datetime, limit: int, *, skipping: Sequence[str] = ()
    ) -> list[str]:
        """Open carts whose oldest buffered event arrived before ``cutoff``, but ``skipping``."""
        ...

    async def idle(
        self, cutoff: datetime, limit: int, *, skipping: Sequence[str] = ()
    ) -> list[str]:
        """Open carts with lines whose last activity was before ``cutoff``, but ``skipping``."""
        ...

    async def mark_abandoned(self, cart_id: str, now: datetime) -> None: ...

    async def record_unapplied(
        self, event: Envelope | WaitingEvent, *, reason: str, detail: str, now: datetime
    ) -> None: ...

    async def record_skipped(self, cart_id: str, first: int, last: int, now: datetime) -> None: ...

    async def unapplied(self, cart_id: str) -> list[UnappliedEvent]: ...

    async def skipped(self, cart_id: str) -> list[SkippedSequences]: ...


class Catalog(Protocol):
    def remember_reads(self) -> None:
        """Until this transaction ends, answer each SKU ``on_sale`` has read without reading
        it again (for a transaction that does not change the catalog)."""
        ...

    async def on_sale(self, skus: Collection[str]) -> dict[str, Product]:
        """The products among ``skus`` that are on sale, by SKU."""
        ...

    async def entries(self) -> list[CatalogEntry]: ...

    async def is_empty(self) -> bool: ...

    async def replace(self, products: Sequence[Product], now: datetime) -> CatalogLoadSummary:
        """Make ``products`` the catalog; every other product is withdrawn (kept, not sold)."""
        ...

    async def lock_for_seeding(self) -> None:
        """Wait for (and exclude) another instance seeding the reference data."""
        ...


class Rates(Protocol):
    def remember_reads(self) -> None:
        """Until this transaction ends, answer each currency ``current`` has read without
        reading it again (for a transaction that does not change the rates)."""
        ...

    async def current(self, currency: Currency) -> FxRate | None: ...

    async def all(self) -> list[FxRate]: ...

    async def is_empty(self) -> bool: ...

    async def replace(self, rates: Sequence[FxRate], now: datetime) -> None:
        """Make ``rates`` the current rates; a currency missing from them is no longer sold."""
        ...


class Orders(Protocol):
    def defer_adds(self) -> None:
        """Until this transaction ends, keep the orders ``add`` is given for ``write_pending``
        to insert together."""
        ...

    async def add(self, placed: OrderPlaced, now: datetime) -> None:
        """Record the order (nothing is changed if the cart already has one)."""
        ...

    async def write_pending(self) -> None:
        """Insert the orders ``add`` kept since ``defer_adds``, one round trip for all, each
        only if its cart (written before) became that order."""
        ...

    async def cancel(self, order_id: UUID, reason: str, at: datetime) -> bool:
        """Mark the order cancelled; False if it is unknown here or already cancelled."""
        ...

    async def snapshot_for_cart(self, cart_id: str) -> dict[str, Any] | None:
        """The order the cart became, as stored at checkout (no payment token)."""
        ...

    async def cancellation_reason(self, order_id: UUID) -> str | None:
        """Why the order was cancelled; None while it is not (or is unknown here). The order
        is held against a cancellation until the transaction ends: a checkout re-announcing the
        order and the order's cancellation (another consumer) then follow one another."""
        ...


class SeedSource(Protocol):
    """Where the reference data comes from when the tables are empty (files, in production)."""

    def catalog_text(self) -> str: ...

    def rates_text(self) -> str: ...


@dataclass(frozen=True)
class CartRepositories:
    carts: Carts
    catalog: Catalog
    rates: Rates
    orders: Orders
    order_status: OrderStatuses


CartUnit = UnitOfWork[CartRepositories]
"""What every cart use case runs in."""
