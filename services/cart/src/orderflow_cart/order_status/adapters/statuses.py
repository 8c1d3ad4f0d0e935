"""The order-status projection's tables in the ``cart`` schema, and its change notifications."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.errors import TransientError
from orderflow_chassis.settings import validate_identifier

from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.ports import (
    CheckoutRejection,
    PageCursor,
    Position,
    Render,
    StoredStatus,
)

_STORED_COLUMNS = (
    "order_id, view, version, last_event_id, last_event_type, last_event_at, last_applied_at"
)


def notification_channel(schema: str) -> str:
    """The channel a change of an order's status is announced on (payload ``order_id:version``),
    one per schema so two deployments in one database never hear each other."""
    return f"{validate_identifier(schema)}_order_status"


def _stored(row: Any) -> StoredStatus:
    return StoredStatus(
        order_id=row["order_id"],
        view=row["view"],
        position=Position(
            version=row["version"],
            last_event_id=row["last_event_id"],
            last_event_type=row["last_event_type"],
            last_event_at=row["last_event_at"],
            applied_at=row["last_applied_at"],
        ),
    )


@dataclass(frozen=True)
class _Known:
    facts: OrderFacts
    version: int


@dataclass
class _Deferred:
    """An order's row as the batch's events left it, rendered and written once by
    ``write_pending`` (an order's events often arrive together: rendering its view per event
    was a fifth of the service's CPU)."""

    facts: OrderFacts
    render: Render
    stored_version: int | None  # the version it is written over; None: the order's first row
    events: int
    event_id: UUID
    event_type: str
    event_at: datetime
    applied_at: datetime

    @property
    def version(self) -> int:
        return (self.stored_version or 0) + self.events


@dataclass(frozen=True)
class LoadedFacts:
    """The facts of a batch's orders, read once when the batch locked them, then kept as the
    batch's events are applied; None for an order without a row yet. Only for the transaction
    that locked them; the next attempt's ``lock_orders`` replaces them. The batch's saves are
    deferred here and written together, each only over the version its facts were read at, so
    facts kept too long store nothing (the batch is applied again)."""

    orders: dict[UUID, _Known | None]
    deferred: dict[UUID, _Deferred] = field(default_factory=dict)


# Set by ``lock_orders`` in the consumer's task and read by the handlers it then runs, each
# through a repository of its own on the same connection.
_LOADED: TransactionLocal[LoadedFacts] = TransactionLocal("order_status_loaded_facts")


class OrderStatusRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)
        self._channel = notification_channel(schema)
        # The version each order's facts were read at, for the save that follows.
        self._versions: dict[UUID, int | None] = {}

    async def lock_orders(self, order_ids: Iterable[UUID]) -> None:
        wanted = [str(order_id) for order_id in set(order_ids)]
        # Advisory locks, not row locks: an order's first event has no row to lock yet, and
        # two first inserts crossing each other would deadlock on the unique index. (The
        # subquery's ORDER BY feeds the lock calls in key order: it has DISTINCT and the
        # outer call is volatile, so it is never flattened.)
        await self._connection.execute(
            """
            SELECT count(pg_advisory_xact_lock(hashtext('orderflow.cart.order_status'), key))
            FROM (SELECT DISTINCT hashtext(o) AS key FROM unnest($1::text[]) AS o ORDER BY key)
                AS keys
            """,
            wanted,
        )
        # Then every locked order's facts in one query, so each event costs one statement
        # (its save) instead of two. A statement of its own, after the locks: under READ
        # COMMITTED a statement sees what was committed when it started, and the locks may
        # have waited for another instance's commit.
        rows = await self._connection.fetch(
            f"""
            SELECT order_id, facts::text AS facts, version FROM {self._schema}.order_status
            WHERE order_id = ANY($1::uuid[])
            """,
            wanted,
        )
        loaded = LoadedFacts({UUID(order_id): None for order_id in wanted})
        for row in rows:
            loaded.orders[row["order_id"]] = _Known(
                OrderFacts.model_validate_json(row["facts"]), row["version"]
            )
        _LOADED.set(self._connection, loaded)

    def _loaded(self) -> LoadedFacts | None:
        """What ``lock_orders`` read for this connection's transaction, if it did."""
        return _LOADED.get(self._connection)

    async def facts_for_update(self, order_id: UUID) -> OrderFacts | None:
        loaded = self._loaded()
        if loaded is not None and order_id in loaded.orders:
            # Taken, not shared: the caller adds the event in place, and a save that fails
            # leaves nothing here that the database does not hold.
            known = loaded.orders.pop(order_id)
            self._versions[order_id] = None if known is None else known.version
            return None if known is None else known.facts
        row = await self._connection.fetchrow(
            f"""
            SELECT facts::text AS facts, version FROM {self._schema}.order_status
            WHERE order_id = $1 FOR UPDATE
            """,
            order_id,
        )
        self._versions[order_id] = None if row is None else row["version"]
        return None if row is None else OrderFacts.model_validate_json(row["facts"])

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
        loaded = self._loaded()
        if loaded is not None:
            # The consumer's batch: written by ``write_pending``, once per order.
            return self._defer(
                loaded, facts, render, first, event_id, event_type, event_at, applied_at
            )
        # One round trip: the row, and the notification of its new version, delivered at
        # commit to every instance listening (each serves its own SSE clients). The order's
        # first row is inserted only if no other transaction inserted it meanwhile (that one
        # waits for it to commit, then stores nothing: the caller reads and applies again).
        # An update applies only over the version the facts were read at: facts loaded for
        # the batch that are not the stored ones any more store nothing either.
        view = render(facts)
        columns = "cart_id, customer_id, placed_at, state, facts, view"
        changed = (
            f"INSERT INTO {self._schema}.order_status (order_id, {columns}, version, "
            "last_event_id, last_event_type, last_event_at, last_applied_at) "
            "VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7::text::json, 1, $8, $9, $10, $11) "
            "ON CONFLICT (order_id) DO NOTHING"
            if first
            else f"UPDATE {self._schema}.order_status SET ({columns}, version, last_event_id, "
            "last_event_type, last_event_at, last_applied_at) "
            "= ($2, $3, $4, $5, $6::text::jsonb, $7::text::json, version + 1, $8, $9, $10, $11) "
            "WHERE order_id = $1 AND ($13::bigint IS NULL OR version = $13)"
        )
        version: int | None = await self._connection.fetchval(
            f"""
            WITH saved AS ({changed} RETURNING version)
            SELECT version, pg_notify($12, $1::text || ':' || version) FROM saved
            """,
            facts.order_id,
            view.cart_id,
            # Listed under the customer only once the order itself is known.
            view.customer_id if view.placed_at else None,
            view.placed_at,
            view.state.value,
            # Encoded by pydantic in one call each (not dumped to dicts, then to JSON text).
            facts.model_dump_json(exclude_defaults=True),
            view.model_dump_json(),
            event_id,
            event_type,
            event_at,
            applied_at,
            self._channel,
            *([] if first else [self._versions.pop(facts.order_id, None)]),
        )
        if version is not None:
            self._remember(facts, version)
        return version

    def _remember(self, facts: OrderFacts, version: int) -> None:
        """The batch's next event of this order starts from what was just stored."""
        loaded = self._loaded()
        if loaded is not None:
            loaded.orders[facts.order_id] = _Known(facts, version)

    def _defer(
        self,
        loaded: LoadedFacts,
        facts: OrderFacts,
        render: Render,
        first: bool,
        event_id: UUID,
        event_type: str,
        event_at: datetime,
        applied_at: datetime,
    ) -> int:
        read_at = self._versions.pop(facts.order_id, None)
        deferred = loaded.deferred.get(facts.order_id)
        if deferred is None:
            deferred = loaded.deferred[facts.order_id] = _Deferred(
                facts, render, None if first else read_at, 0, event_id, event_type, event_at,
                applied_at,
            )  # fmt: skip
        deferred.facts, deferred.render, deferred.events = facts, render, deferred.events + 1
        deferred.event_id, deferred.event_type = event_id, event_type
        deferred.event_at, deferred.applied_at = event_at, applied_at
        self._remember(facts, deferred.version)
        return deferred.version

    async def write_pending(self) -> None:
        loaded = self._loaded()
        if loaded is None or not loaded.deferred:
            return
        rows = list(loaded.deferred.values())
        loaded.deferred.clear()
        views = [row.render(row.facts) for row in rows]
        # One statement for the batch: each order's row (inserted if it is the order's first,
        # else updated over the version its facts were read at) and the notification of its
        # new version, delivered at commit to every instance listening.
        stored = await self._connection.fetchval(
            f"""
            WITH pending AS (
                SELECT * FROM unnest(
                    $1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                    $6::text[], $7::text[], $8::bigint[], $9::int[], $10::uuid[], $11::text[],
                    $12::timestamptz[], $13::timestamptz[]
                ) AS p(order_id, cart_id, customer_id, placed_at, state, facts, view,
                       stored_version, events, last_event_id, last_event_type, last_event_at,
                       last_applied_at)
            ), inserted AS (
                INSERT INTO {self._schema}.order_status (order_id, cart_id, customer_id,
                    placed_at, state, facts, view, version, last_event_id, last_event_type,
                    last_event_at, last_applied_at)
                SELECT order_id, cart_id, customer_id, placed_at, state, facts::jsonb,
                       view::json, events, last_event_id, last_event_type, last_event_at,
                       last_applied_at
                FROM pending WHERE stored_version IS NULL
                ON CONFLICT (order_id) DO NOTHING
                RETURNING order_id, version
            ), updated AS (
                UPDATE {self._schema}.order_status AS o
                SET (cart_id, customer_id, placed_at, state, facts, view, version,
                     last_event_id, last_event_type, last_event_at, last_applied_at)
                  = (p.cart_id, p.customer_id, p.placed_at, p.state, p.facts::jsonb,
                     p.view::json, o.version + p.events, p.last_event_id, p.last_event_type,
                     p.last_event_at, p.last_applied_at)
                FROM pending AS p
                WHERE p.stored_version IS NOT NULL AND o.order_id = p.order_id
                  AND o.version = p.stored_version
                RETURNING o.order_id, o.version
            )
            SELECT count(pg_notify($14, saved.order_id::text || ':' || saved.version))
            FROM (SELECT * FROM inserted UNION ALL SELECT * FROM updated) AS saved
            """,
            [row.facts.order_id for row in rows],
            [view.cart_id for view in views],
            # Listed under the customer only once the order itself is known.
            [view.customer_id if view.placed_at else None for view in views],
            [view.placed_at for view in views],
            [view.state.value for view in views],
            [row.facts.model_dump_json(exclude_defaults=True) for row in rows],
            [view.model_dump_json() for view in views],
            [row.stored_version for row in rows],
            [row.events for row in rows],
            [row.event_id for row in rows],
            [row.event_type for row in rows],
            [row.event_at for row in rows],
            [row.applied_at for row in rows],
            self._channel,
        )
        if stored != len(rows):
            # Another writer stored one of these orders since its facts were read (or its
            # first row): the batch is applied again, over what is stored now.
            raise TransientError(
                f"order status: {len(rows) - stored} of the batch's {len(rows)} orders "
                "changed while the batch applied its events"
            )

    async def get(self, order_id: UUID) -> StoredStatus | None:
        row = await self._connection.fetchrow(
            f"SELECT {_STORED_COLUMNS} FROM {self._schema}.order_status WHERE order_id = $1",
            order_id,
        )
        return None if row is None else _stored(row)

    async def for_cart(self, cart_id: str) -> StoredStatus | None:
        row = await self._connection.fetchrow(
            f"""
            SELECT {_STORED_COLUMNS} FROM {self._schema}.order_status
            WHERE cart_id = $1 ORDER BY placed_at DESC NULLS LAST LIMIT 1
            """,
            cart_id,
        )
        return None if row is None else _stored(row)

    async def for_customer(
        self, customer_id: str, *, after: PageCursor | None, limit: int
    ) -> list[StoredStatus]:
        rows = await self._connection.fetch(
            f"""
            SELECT {_STORED_COLUMNS} FROM {self._schema}.order_status
            WHERE customer_id = $1
              AND ($2::timestamptz IS NULL OR (placed_at, order_id) < ($2, $3::uuid))
            ORDER BY placed_at DESC, order_id DESC
            LIMIT $4
            """,
            customer_id,
            after.placed_at if after else None,
            after.order_id if after else None,
            limit,
        )
        return [_stored(row) for row in rows]

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
        # By the cart's numbering when both have one: times are the emitting instance's clock.
        await self._connection.execute(
            f"""
            INSERT INTO {self._schema}.checkout_rejections AS current
                (cart_id, reasons, rejected_at, event_id, checkout_event_id, sequence)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (cart_id) DO UPDATE SET
                reasons = EXCLUDED.reasons, rejected_at = EXCLUDED.rejected_at,
                event_id = EXCLUDED.event_id, checkout_event_id = EXCLUDED.checkout_event_id,
                sequence = EXCLUDED.sequence
            WHERE CASE
                WHEN EXCLUDED.sequence IS NOT NULL AND current.sequence IS NOT NULL
                    THEN EXCLUDED.sequence > current.sequence
                ELSE (EXCLUDED.rejected_at, EXCLUDED.event_id)
                     > (current.rejected_at, current.event_id)
            END
            """,
            cart_id,
            reasons,
            at,
            event_id,
            checkout_event_id,
            sequence,
        )

    async def checkout_rejection(self, cart_id: str) -> CheckoutRejection | None:
        row = await self._connection.fetchrow(
            f"""
            SELECT cart_id, reasons, rejected_at, checkout_event_id
            FROM {self._schema}.checkout_rejections
            WHERE cart_id = $1
            """,
            cart_id,
        )
        if row is None:
            return None
        return CheckoutRejection(
            row["cart_id"], row["reasons"], row["rejected_at"], row["checkout_event_id"]
        )
