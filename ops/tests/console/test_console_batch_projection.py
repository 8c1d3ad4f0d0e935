"""The read model written once per batch (on real PostgreSQL): a batch holding an order's whole
journey leaves the same rows as the same events applied one batch each, and an attempt that
was rolled back and begun again counts nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_ops.console import read_model_batch
from orderflow_ops.console.app import console_migrations
from orderflow_ops.console.projection import facts_from_data
from orderflow_ops.console.read_model_batch import BatchProjection
from orderflow_ops.console.read_model_writes import RecordPosition

from .console_harness import captured_order, envelope

pytestmark = pytest.mark.integration
SCHEMA = "console"


@pytest.fixture
async def database(orderflow_infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Connection]:
    async with isolated_database(orderflow_infrastructure, "batch", services=[SCHEMA]) as isolated:
        connection = await connect(isolated.service_database_urls[SCHEMA], schema=SCHEMA)
        try:
            await migrate_service(connection, SCHEMA, console_migrations())
            yield connection
        finally:
            await connection.close()


async def _apply(
    connection: asyncpg.Connection, batch: BatchProjection, envelopes: Sequence[Envelope]
) -> None:
    async with connection.transaction():
        batch.begin(connection)
        for item in envelopes:
            at = RecordPosition("t", 0, 0, 0)
            batch.add(connection, item.parse_event(), item, at)
        await batch.flush()


def _journey(order_id: str, cart_id: str) -> list[Envelope]:
    order = captured_order(order_id, cart_id)
    refund = {"order_id": order_id, "refund_id": str(uuid.uuid4())}
    return [*order, envelope("RefundIssued", 4, cause=order[2], **refund)]


async def _order_rows(connection: asyncpg.Connection, order_id: str) -> dict[str, Any]:
    order = await connection.fetchrow(
        f"SELECT state, placed_at, last_event_at, total, violations, facts"
        f" FROM {SCHEMA}.orders WHERE order_id = $1",
        order_id,
    )
    cart = await connection.fetchrow(
        f"SELECT order_placed_at FROM {SCHEMA}.cart_orders WHERE order_id = $1", order_id
    )
    assert order is not None
    assert cart is not None
    facts = dict(order["facts"])
    facts["refunds"] = sorted(facts["refunds"].values())  # each journey has its own refund id
    return {**dict(order), "facts": facts, "cart_order_placed_at": cart["order_placed_at"]}


async def _counts(connection: asyncpg.Connection) -> dict[str, Any]:
    stages = await connection.fetch(f"SELECT stage, events FROM {SCHEMA}.stage_totals")
    states = await connection.fetch(f"SELECT state, orders FROM {SCHEMA}.order_state_counts")
    answered = await connection.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.checkouts WHERE answered_at IS NOT NULL"
    )
    return {
        "stages": {row["stage"]: row["events"] for row in stages},
        "states": {row["state"]: row["orders"] for row in states if row["orders"]},
        "answered": answered,
        "links": await connection.fetchval(f"SELECT count(*) FROM {SCHEMA}.event_links"),
        "refunds": await connection.fetchval(f"SELECT count(*) FROM {SCHEMA}.refunds"),
    }


async def test_one_batch_of_a_whole_journey_equals_one_batch_per_event(
    database: asyncpg.Connection,
) -> None:
    batch = BatchProjection(SCHEMA)
    together, apart = str(uuid.uuid4()), str(uuid.uuid4())
    await _apply(database, batch, _journey(together, "cart-together"))
    one_batch = await _counts(database)
    for item in _journey(apart, "cart-apart"):
        await _apply(database, batch, [item])

    assert await _order_rows(database, together) == await _order_rows(database, apart)
    both = await _counts(database)
    assert both["stages"] == {stage: 2 * n for stage, n in one_batch["stages"].items()}
    assert both["states"] == {"awaiting_shipment": 2}
    assert one_batch["answered"] == 1  # the request and its answer were in one batch
    assert both["answered"] == 2
    assert both["links"] == 2 * one_batch["links"]
    assert both["refunds"] == 2
    placed = await _order_rows(database, together)
    assert placed["cart_order_placed_at"] == placed["placed_at"]
    assert placed["violations"] == []


async def test_an_attempt_begun_again_after_a_rollback_counts_each_event_once(
    database: asyncpg.Connection,
) -> None:
    batch = BatchProjection(SCHEMA)
    order_id = str(uuid.uuid4())
    journey = _journey(order_id, "cart-retried")
    # An attempt gathers the batch, then fails before the flush (e.g. at the positions'
    # write): its transaction is rolled back, and the consumer begins the batch again.
    transaction = database.transaction()
    await transaction.start()
    batch.begin(database)
    for item in journey:
        batch.add(database, item.parse_event(), item, RecordPosition("t", 0, 0, 0))
    await transaction.rollback()

    await _apply(database, batch, journey)

    counts = await _counts(database)
    assert counts["stages"]["placed"] == 1
    assert counts["stages"]["checkouts"] == 1
    assert counts["states"] == {"awaiting_shipment": 1}


async def test_an_order_folded_into_kept_facts_equals_one_read_back_each_batch(
    database: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_back: list[str] = []

    def counted(order_id: str, data: dict[str, Any]) -> Any:
        read_back.append(order_id)
        return facts_from_data(order_id, data)

    monkeypatch.setattr(read_model_batch, "facts_from_data", counted)
    kept, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    batch = BatchProjection(SCHEMA)
    for item in _journey(kept, "cart-kept"):
        await _apply(database, batch, [item])
    assert read_back == []  # every batch after the first folded into what it wrote
    journey = _journey(fresh, "cart-fresh")
    for item in journey:
        await _apply(database, BatchProjection(SCHEMA), [item])  # nothing kept: read back

    order_events = [item for item in journey if "order_id" in item.data]
    assert read_back.count(fresh) == len(order_events) - 1  # all but the first, which made it
    assert await _order_rows(database, kept) == await _order_rows(database, fresh)


async def test_facts_a_rolled_back_flush_folded_are_not_folded_into_again(
    database: asyncpg.Connection,
) -> None:
    batch = BatchProjection(SCHEMA)
    order_id = str(uuid.uuid4())
    *before, captured, _ = _journey(order_id, "cart-rolled-back")
    await _apply(database, batch, before)
    transaction = database.transaction()
    await transaction.start()
    batch.begin(database)
    batch.add(database, captured.parse_event(), captured, RecordPosition("t", 0, 0, 0))
    await batch.flush()  # the capture is folded and written, then the commit fails
    await transaction.rollback()

    await _apply(database, batch, [captured])

    row = await _order_rows(database, order_id)
    assert len(row["facts"]["captures"]) == 1
    assert row["violations"] == []  # not captured_twice


async def test_an_order_row_another_writer_changed_is_read_again(
    database: asyncpg.Connection,
) -> None:
    batch = BatchProjection(SCHEMA)
    order_id = str(uuid.uuid4())
    *before, captured, _ = _journey(order_id, "cart-changed")
    await _apply(database, batch, before)
    await database.execute(  # e.g. a second console instance folded an event in meanwhile
        f"""UPDATE {SCHEMA}.orders SET facts = jsonb_set(facts, '{{delivered}}', '["s-1"]')
        WHERE order_id = $1""",
        order_id,
    )

    await _apply(database, batch, [captured])

    assert (await _order_rows(database, order_id))["facts"]["delivered"] == ["s-1"]


async def test_an_order_another_console_instance_folded_into_is_read_again(
    database: asyncpg.Connection,
) -> None:
    mine, theirs = BatchProjection(SCHEMA), BatchProjection(SCHEMA)
    order_id = str(uuid.uuid4())
    *before, captured, refunded = _journey(order_id, "cart-two-instances")
    await _apply(database, mine, before)
    await _apply(database, theirs, [captured])  # the other instance's batch

    await _apply(database, mine, [refunded])

    row = await _order_rows(database, order_id)
    assert len(row["facts"]["captures"]) == 1  # the other instance's fold is kept
    assert len(row["facts"]["refunds"]) == 1


async def test_an_event_handled_outside_a_begun_batch_is_refused(
    database: asyncpg.Connection,
) -> None:
    batch = BatchProjection(SCHEMA)
    item = _journey(str(uuid.uuid4()), "cart-stray")[0]

    with pytest.raises(RuntimeError, match="outside the batch"):
        batch.add(database, item.parse_event(), item, RecordPosition("t", 0, 0, 0))
