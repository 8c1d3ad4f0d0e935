"""The projection reads a batch's facts once and writes its statuses once, on real PostgreSQL:
three statements per batch, the running consumer's handlers get every order's facts from its
batch, and facts read for the batch that another writer changed meanwhile never overwrite its
change (the batch is applied again)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from orderflow_cart.adapters import sql_repositories
from orderflow_cart.order_status import handlers as order_status_handlers
from orderflow_cart.order_status.adapters import statuses
from orderflow_cart.order_status.adapters.statuses import OrderStatusRepository
from orderflow_cart.order_status.domain.facts import apply
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.domain.status import OrderStatus
from orderflow_cart.order_status.domain.view import order_view
from orderflow_cart.order_status.handlers import (
    lock_batch,
    order_status,
    project_order_event,
    write_batch,
)
from orderflow_chassis.database import connect
from orderflow_chassis.errors import TransientError
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.policies import DEFAULT_RETURN_WINDOW, DEFAULT_WARRANTY_POLICY
from orderflow_localinfra.discovery import Infrastructure

from services.cart.tests.integration.conftest import SCHEMA, RunningCart, unit
from services.cart.tests.integration.order_status_client import API_TOKEN, order_when
from services.cart.tests.order_events import OrderJourney, envelopes
from tests.support.service_harness import publish_envelopes

pytestmark = pytest.mark.integration

CART_OVERRIDES = {"storefront_api_token": API_TOKEN}


async def apply_batch(connection: asyncpg.Connection, batch: list[Envelope]) -> None:
    """As the order-status consumer does: lock (and read) the batch's orders, then each event
    in a unit of work of its own, on the transaction's connection, then write what they left."""
    events = [envelope.parse_event() for envelope in batch]
    await lock_batch(events, unit(connection))
    for envelope, event in zip(batch, events, strict=True):
        await project_order_event(
            event,
            unit(connection, envelope),
            return_window=DEFAULT_RETURN_WINDOW,
            warranty_policy=DEFAULT_WARRANTY_POLICY,
        )
    await write_batch(unit(connection))


async def test_a_batch_costs_three_statements_however_many_events_it_holds(
    connection: asyncpg.Connection,
) -> None:
    journeys = [OrderJourney(f"batch-{i}") for i in range(3)]
    placed = [envelopes([j.placed(), j.checked_out(), j.authorized()]) for j in journeys]
    async with connection.transaction():
        await apply_batch(connection, [e for events in placed for e in events[:1]])
    batch = [e for events in placed for e in events[1:]]  # known orders, two events each
    statements: list[str] = []

    def logged(query: asyncpg.connection.LoggedQuery) -> None:
        statements.append(query.query)

    connection.add_query_logger(logged)
    try:
        async with connection.transaction():
            await apply_batch(connection, batch)
        await asyncio.sleep(0)  # query loggers are called soon, not at once
    finally:
        connection.remove_query_logger(logged)
    # BEGIN, the locks, the facts of every order at once, one write for all, COMMIT.
    assert len(statements) == 2 + 3, statements
    async with connection.transaction(readonly=True):
        states = [await order_status(j.order_id, unit(connection)) for j in journeys]
    assert [(s.view["state"], s.position.version) for s in states if s] == [("placed", 3)] * 3


async def test_a_batch_renders_each_orders_view_once_from_its_last_facts(
    connection: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[UUID] = []

    def counted(facts: OrderFacts, **policies: Any) -> OrderStatus:
        rendered.append(facts.order_id)
        return order_view(facts, **policies)

    monkeypatch.setattr(order_status_handlers, "order_view", counted)
    journeys = [OrderJourney(f"render-{i}") for i in range(2)]
    batch = [e for j in journeys for e in envelopes([j.placed(), j.checked_out(), j.captured()])]
    async with connection.transaction():
        await apply_batch(connection, batch)
    assert sorted(rendered) == sorted(j.order_id for j in journeys)
    async with connection.transaction(readonly=True):
        states = [await order_status(j.order_id, unit(connection)) for j in journeys]
    assert [(s.view["state"], s.position.version) for s in states if s] == [("paid", 3)] * 2


async def test_facts_read_for_the_batch_never_overwrite_a_change_stored_meanwhile(
    connection: asyncpg.Connection, orderflow_infrastructure: Infrastructure
) -> None:
    journey = OrderJourney("stale")
    placed, authorized, captured = envelopes(
        [journey.placed(), journey.authorized(), journey.captured()]
    )
    async with connection.transaction():
        await apply_batch(connection, [placed])
    other = await connect(orderflow_infrastructure.service_database_urls["cart"], schema=SCHEMA)
    try:
        async with connection.transaction():
            await lock_batch([captured.parse_event()], unit(connection))  # reads version 1
            # A writer that took no lock (none does today) stores version 2 meanwhile.
            theirs = sql_repositories(SCHEMA)(other).order_status
            known = await theirs.facts_for_update(journey.order_id)
            assert known is not None
            facts = apply(
                known,
                authorized.parse_event(),
                occurred_at=authorized.occurred_at,
                event_id=authorized.event_id,
            )
            stored = await theirs.save(
                facts,
                order_view,
                first=False,
                event_id=authorized.event_id,
                event_type=authorized.event_type,
                event_at=authorized.occurred_at,
                applied_at=authorized.occurred_at,
            )
            assert stored == 2
            await project_order_event(
                captured.parse_event(),
                unit(connection, captured),
                return_window=DEFAULT_RETURN_WINDOW,
                warranty_policy=DEFAULT_WARRANTY_POLICY,
            )
            with pytest.raises(TransientError, match="changed while the batch applied"):
                await write_batch(unit(connection))
    finally:
        await other.close()
    # The consumer applies the batch again, over what is stored now.
    async with connection.transaction():
        await apply_batch(connection, [captured])

    async with connection.transaction(readonly=True):
        found = await order_status(journey.order_id, unit(connection))
    assert found is not None
    assert found.position.version == 3
    payment = found.view["payment"]
    amounts = found.view["amounts"]
    # Both the authorisation stored meanwhile and the capture applied over it.
    assert (payment["status"], amounts["authorized"], amounts["captured"]) == (
        "captured",
        journey.total.model_dump(mode="json"),
        journey.total.model_dump(mode="json"),
    )


async def test_an_orders_first_row_stored_meanwhile_is_never_overwritten(
    connection: asyncpg.Connection, orderflow_infrastructure: Infrastructure
) -> None:
    journey = OrderJourney("first-race")
    placed, checked_out = envelopes([journey.placed(), journey.checked_out()])
    other = await connect(orderflow_infrastructure.service_database_urls["cart"], schema=SCHEMA)
    try:
        async with connection.transaction():
            await lock_batch([checked_out.parse_event()], unit(connection))  # reads no row
            # Another writer stores the order's first row meanwhile (one that took no lock).
            theirs = sql_repositories(SCHEMA)(other).order_status
            facts = apply(
                OrderFacts(order_id=journey.order_id),
                placed.parse_event(),
                occurred_at=placed.occurred_at,
                event_id=placed.event_id,
            )
            stored = await theirs.save(
                facts,
                order_view,
                first=True,
                event_id=placed.event_id,
                event_type=placed.event_type,
                event_at=placed.occurred_at,
                applied_at=placed.occurred_at,
            )
            assert stored == 1
            await project_order_event(
                checked_out.parse_event(),
                unit(connection, checked_out),
                return_window=DEFAULT_RETURN_WINDOW,
                warranty_policy=DEFAULT_WARRANTY_POLICY,
            )
            with pytest.raises(TransientError, match="1 of the batch's 1 orders"):
                await write_batch(unit(connection))
    finally:
        await other.close()
    async with connection.transaction():
        await apply_batch(connection, [checked_out])
    async with connection.transaction(readonly=True):
        found = await order_status(journey.order_id, unit(connection))
    assert found is not None
    assert (found.view["state"], found.position.version) == ("placed", 2)


async def test_the_running_consumer_hands_its_handlers_the_facts_its_batch_read(
    cart_service: RunningCart, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The consumer builds repositories per record: the facts lock_batch read must still reach
    # each handler, so no event of the journey reads its order's row again.
    reads = {"from the batch": 0, "from the database": 0}
    real = OrderStatusRepository.facts_for_update

    async def counted(self: OrderStatusRepository, order_id: UUID) -> OrderFacts | None:
        loaded = statuses._LOADED.get(self._connection)
        handed = loaded is not None and order_id in loaded.orders
        reads["from the batch" if handed else "from the database"] += 1
        return await real(self, order_id)

    monkeypatch.setattr(OrderStatusRepository, "facts_for_update", counted)
    journey = OrderJourney("consumer")
    applied = envelopes(journey.happy_path())
    await publish_envelopes(cart_service.infrastructure, cart_service.prefix, applied)
    await order_when(
        cart_service.http,
        f"/orders/{journey.order_id}",
        lambda body: body["position"]["version"] == len(applied),
    )
    assert reads == {"from the batch": len(applied), "from the database": 0}
