"""In-memory repositories of the cart, for unit tests of its use cases.

They keep what the SQL adapters keep, the way the use cases see it; what only PostgreSQL can
show (locks, SKIP LOCKED, constraints under concurrency) is proven by the integration tests.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from orderflow_cart.adapters.cart_ops_records import LISTED
from orderflow_cart.adapters.orders import stored_snapshot
from orderflow_cart.adapters.reference_data import SeedFiles
from orderflow_cart.domain.cart import Cart, CartStatus
from orderflow_cart.domain.catalog import Product, parse_catalog_csv
from orderflow_cart.domain.rates import FxRate, parse_rates_json
from orderflow_cart.domain.sequencing import Waiting
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.ports import (
    CheckoutRejection,
    PageCursor,
    Position,
    Render,
    StoredStatus,
)
from orderflow_cart.ports import (
    CartRepositories,
    CatalogEntry,
    CatalogLoadSummary,
    SkippedSequences,
    UnappliedEvent,
    WaitingEvent,
)
from orderflow_chassis.clock import SettableClock
from orderflow_chassis.testing import FakeTransactions
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import OrderPlaced
from orderflow_contracts.money import Currency


@dataclass
class FakeCarts:
    carts: dict[str, Cart] = field(default_factory=dict)
    buffered: dict[tuple[str, int], tuple[Envelope, datetime]] = field(default_factory=dict)
    abandoned_at: dict[str, datetime] = field(default_factory=dict)
    unapplied_events: list[tuple[str, UnappliedEvent]] = field(default_factory=list)
    skipped_sequences: list[tuple[str, SkippedSequences]] = field(default_factory=list)

    async def lock_all(self, cart_ids: Iterable[str], now: datetime) -> None:
        for cart_id in cart_ids:
            self.carts.setdefault(cart_id, Cart(cart_id))

    async def lock(self, cart_id: str, now: datetime) -> Cart:
        self.carts.setdefault(cart_id, Cart(cart_id))
        return copy.deepcopy(self.carts[cart_id])

    async def get(self, cart_id: str) -> Cart | None:
        return copy.deepcopy(self.carts.get(cart_id))

    async def save(self, cart: Cart, now: datetime) -> None:
        self.carts[cart.cart_id] = copy.deepcopy(cart)

    async def write_pending(self) -> None:
        """Nothing to write: ``save`` stores at once here."""

    async def waiting(self, cart_id: str) -> list[Waiting]:
        return sorted(
            (
                Waiting(sequence, received)
                for (cid, sequence), (_, received) in self.buffered.items()
                if cid == cart_id
            ),
            key=lambda w: w.sequence,
        )

    async def buffer(self, cart_id: str, envelope: Envelope, now: datetime) -> None:
        assert envelope.sequence is not None
        self.buffered[(cart_id, envelope.sequence)] = (envelope, now)

    async def take_waiting(self, cart_id: str, sequence: int) -> WaitingEvent:
        envelope, _ = self.buffered.pop((cart_id, sequence))
        return WaitingEvent(
            cart_id,
            envelope.event_id,
            envelope.event_type,
            sequence,
            envelope.model_dump(mode="json"),
        )

    async def with_overdue_gaps(
        self, cutoff: datetime, limit: int, *, skipping: Sequence[str] = ()
    ) -> list[str]:
        oldest: dict[str, datetime] = {}
        for (cart_id, _), (_, received) in self.buffered.items():
            oldest[cart_id] = min(received, oldest.get(cart_id, received))
        overdue = [
            cart_id
            for cart_id, at in sorted(oldest.items(), key=lambda i: i[1])
            if at <= cutoff and cart_id not in skipping
        ]
        return overdue[:limit]

    async def idle(
        self, cutoff: datetime, limit: int, *, skipping: Sequence[str] = ()
    ) -> list[str]:
        idle = [
            cart
            for cart in self.carts.values()
            if cart.status is CartStatus.OPEN
            and cart.cart_id not in skipping
            and cart.lines
            and cart.last_activity_at is not None
            and cart.last_activity_at <= cutoff
        ]
        idle.sort(key=lambda cart: cart.last_activity_at or cutoff)
        return [cart.cart_id for cart in idle[:limit]]

    async def mark_abandoned(self, cart_id: str, now: datetime) -> None:
        cart = self.carts[cart_id]
        if cart.status is CartStatus.OPEN:
            cart.status = CartStatus.ABANDONED
            self.abandoned_at[cart_id] = now

    async def record_unapplied(
        self, event: Envelope | WaitingEvent, *, reason: str, detail: str, now: datetime
    ) -> None:
        self.unapplied_events.append(
            (
                event.aggregate_id,
                UnappliedEvent(
                    event.event_id, event.event_type, event.sequence, reason, detail, now
                ),
            )
        )

    async def record_skipped(self, cart_id: str, first: int, last: int, now: datetime) -> None:
        self.skipped_sequences.append((cart_id, SkippedSequences(first, last, now)))

    async def unapplied(self, cart_id: str) -> list[UnappliedEvent]:
        return [event for cid, event in self.unapplied_events if cid == cart_id][-LISTED:]

    async def skipped(self, cart_id: str) -> list[SkippedSequences]:
        return [skipped for cid, skipped in self.skipped_sequences if cid == cart_id][-LISTED:]


@dataclass
class FakeCatalog:
    products: dict[str, CatalogEntry] = field(default_factory=dict)
    seed_locks: int = 0

    def remember_reads(self) -> None:
        """Nothing to remember: every read is from memory here."""

    async def on_sale(self, skus: Collection[str]) -> dict[str, Product]:
        return {
            sku: entry.product
            for sku, entry in self.products.items()
            if sku in skus and entry.on_sale
        }

    async def entries(self) -> list[CatalogEntry]:
        return [self.products[sku] for sku in sorted(self.products)]

    async def is_empty(self) -> bool:
        return not self.products

    async def replace(self, products: Sequence[Product], now: datetime) -> CatalogLoadSummary:
        before = dict(self.products)
        added = [p.sku for p in products if p.sku not in before or not before[p.sku].on_sale]
        repriced = [
            p.sku
            for p in products
            if p.sku in before
            and before[p.sku].on_sale
            and before[p.sku].product.price_usd != p.price_usd
        ]
        renamed = [
            p.sku
            for p in products
            if p.sku in before and before[p.sku].on_sale and before[p.sku].product.name != p.name
        ]
        unchanged = sum(
            1
            for p in products
            if p.sku in before and before[p.sku].on_sale and before[p.sku].product == p
        )
        kept = {p.sku for p in products}
        withdrawn = sorted(sku for sku, e in before.items() if e.on_sale and sku not in kept)
        for sku in withdrawn:
            self.products[sku] = CatalogEntry(before[sku].product, on_sale=False)
        for product in products:
            self.products[product.sku] = CatalogEntry(product, on_sale=True)
        return CatalogLoadSummary(added, repriced, renamed, withdrawn, unchanged)

    async def lock_for_seeding(self) -> None:
        self.seed_locks += 1


@dataclass
class FakeRates:
    rates: dict[Currency, FxRate] = field(default_factory=dict)

    def remember_reads(self) -> None:
        """Nothing to remember: every read is from memory here."""

    async def current(self, currency: Currency) -> FxRate | None:
        return self.rates.get(currency)

    async def all(self) -> list[FxRate]:
        return [self.rates[c] for c in sorted(self.rates, key=lambda c: c.value)]

    async def is_empty(self) -> bool:
        return not self.rates

    async def replace(self, rates: Sequence[FxRate], now: datetime) -> None:
        self.rates = {rate.currency: rate for rate in rates}


@dataclass
class FakeOrders:
    placed: dict[UUID, OrderPlaced] = field(default_factory=dict)
    cancelled: dict[UUID, tuple[str, datetime]] = field(default_factory=dict)

    def defer_adds(self) -> None:
        """Nothing to defer: ``add`` stores at once here."""

    async def add(self, placed: OrderPlaced, now: datetime) -> None:
        known = placed.order_id in self.placed or any(
            order.cart_id == placed.cart_id for order in self.placed.values()
        )
        if not known:
            self.placed[placed.order_id] = placed

    async def write_pending(self) -> None:
        """Nothing to write: ``add`` stores at once here."""

    async def cancel(self, order_id: UUID, reason: str, at: datetime) -> bool:
        if order_id not in self.placed or order_id in self.cancelled:
            return False
        self.cancelled[order_id] = (reason, at)
        return True

    async def cancellation_reason(self, order_id: UUID) -> str | None:
        cancelled = self.cancelled.get(order_id)
        return cancelled[0] if cancelled else None

    async def snapshot_for_cart(self, cart_id: str) -> dict[str, Any] | None:
        for placed in self.placed.values():
            if placed.cart_id == cart_id:
                return stored_snapshot(placed)
        return None


@dataclass
class FakeOrderStatuses:
    """The order-status rows in memory: facts, view and position per order."""

    rows: dict[UUID, tuple[OrderFacts, StoredStatus]] = field(default_factory=dict)
    rejections: dict[str, CheckoutRejection] = field(default_factory=dict)
    sequences: dict[str, int | None] = field(default_factory=dict)  # of the kept rejections
    notified: list[tuple[UUID, int]] = field(default_factory=list)
    locked: list[list[UUID]] = field(default_factory=list)  # each batch's lock_orders call

    async def lock_orders(self, order_ids: Iterable[UUID]) -> None:
        self.locked.append(sorted(set(order_ids)))

    async def facts_for_update(self, order_id: UUID) -> OrderFacts | None:
        row = self.rows.get(order_id)
        return None if row is None else row[0].model_copy(deep=True)

    async def save(
        self,
        facts: OrderFacts,
        render: Render,
        *,
        first: bool,
        event_id: UUID,
        event_type: str,
        event_at: datetime,
        applied_at: datetime,
    ) -> int | None:
        previous = self.rows.get(facts.order_id)
        if first and previous is not None:
            return None  # another transaction stored the order's first event meanwhile
        version = 1 if previous is None else previous[1].position.version + 1
        position = Position(version, event_id, event_type, event_at, applied_at)
        stored = StoredStatus(facts.order_id, render(facts).model_dump(mode="json"), position)
        self.rows[facts.order_id] = (facts.model_copy(deep=True), stored)
        self.notified.append((facts.order_id, version))
        return version

    async def write_pending(self) -> None:
        """Nothing to write: ``save`` stores at once here."""

    async def get(self, order_id: UUID) -> StoredStatus | None:
        row = self.rows.get(order_id)
        return None if row is None else row[1]

    async def for_cart(self, cart_id: str) -> StoredStatus | None:
        return next((s for _, s in self.rows.values() if s.view["cart_id"] == cart_id), None)

    async def for_customer(
        self, customer_id: str, *, after: PageCursor | None, limit: int
    ) -> list[StoredStatus]:
        def key(stored: StoredStatus) -> tuple[datetime, str]:
            return (datetime.fromisoformat(stored.view["placed_at"]), str(stored.order_id))

        mine = sorted(
            (
                s
                for _, s in self.rows.values()
                if s.view["customer_id"] == customer_id and s.view["placed_at"]
            ),
            key=key,
            reverse=True,
        )
        if after is not None:
            mine = [s for s in mine if key(s) < (after.placed_at, str(after.order_id))]
        return mine[:limit]

    async def record_checkout_rejection(
        self,
        cart_id: str,
        reasons: list[dict[str, Any]],
        *,
        at: datetime,
        event_id: UUID,
        checkout_event_id: str | None,
        sequence: int | None = None,
    ) -> None:
        current, known = self.rejections.get(cart_id), self.sequences.get(cart_id)
        if current is None:
            later = True
        elif sequence is not None and known is not None:  # by the cart's numbering
            later = sequence > known
        else:  # one of them stored before the numbering: by time
            later = at > current.rejected_at
        if later:
            self.rejections[cart_id] = CheckoutRejection(cart_id, reasons, at, checkout_event_id)
            self.sequences[cart_id] = sequence

    async def checkout_rejection(self, cart_id: str) -> CheckoutRejection | None:
        return self.rejections.get(cart_id)


@dataclass(frozen=True)
class FakeCartRepositories(CartRepositories):
    """The cart's repositories in memory, typed as the fakes so tests can look inside."""

    carts: FakeCarts = field(default_factory=FakeCarts)
    catalog: FakeCatalog = field(default_factory=FakeCatalog)
    rates: FakeRates = field(default_factory=FakeRates)
    orders: FakeOrders = field(default_factory=FakeOrders)
    order_status: FakeOrderStatuses = field(default_factory=FakeOrderStatuses)


def fake_transactions(
    clock: SettableClock | None = None, *, seeded: bool = True
) -> FakeTransactions[FakeCartRepositories]:
    """Units of work over fresh in-memory repositories; ``seeded`` loads the packaged catalog
    and rates, as the service does at its first start."""
    repos = FakeCartRepositories()
    if seeded:
        files = SeedFiles()
        for product in parse_catalog_csv(files.catalog_text()):
            repos.catalog.products[product.sku] = CatalogEntry(product, on_sale=True)
        repos.rates.rates = {r.currency: r for r in parse_rates_json(files.rates_text())}
    return FakeTransactions(repos, clock or SettableClock())
