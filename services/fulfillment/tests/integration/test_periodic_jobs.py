"""The periodic jobs' statements on real PostgreSQL: every backordered replacement gets its
turn, stock that comes puts its replacements first without waiting for the job, and a round
can leave out what it set aside."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from orderflow_chassis.database import Connection
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import service_transactions
from orderflow_chassis.unit_of_work import Transactions
from orderflow_chassis.waiting import wait_at_most
from orderflow_fulfillment.adapters.orders import OrderRepository
from orderflow_fulfillment.adapters.replacements import ReplacementRepository
from orderflow_fulfillment.bootstrap import build_definition
from orderflow_fulfillment.domain.allocation import Line
from orderflow_fulfillment.domain.stock_file import WarehouseEntry
from orderflow_fulfillment.handlers.replacements import BATCH, retry_backordered_replacements
from orderflow_fulfillment.ports import FulfillmentRepositories, ReplacementRecord
from orderflow_localinfra.discovery import Infrastructure

from services.fulfillment.tests.builders import address
from services.fulfillment.tests.integration.conftest import fast_settings
from services.fulfillment.tests.integration.flow import SCHEMA, load_warehouses, new_sku, tag
from tests.support.service_harness import running_service, service_settings, unique_prefix

pytestmark = pytest.mark.integration

SETTINGS = fast_settings(backorder_retry_interval_s=3600, expiry_check_interval_s=3600)

Key = tuple[uuid.UUID, str]


@pytest_asyncio.fixture(scope="module")
async def service(
    orderflow_infrastructure: Infrastructure,
) -> AsyncIterator[tuple[ServiceRuntime, Transactions[FulfillmentRepositories]]]:
    settings = service_settings(
        orderflow_infrastructure, "fulfillment", topic_prefix=unique_prefix("periodic-jobs")
    )
    # The tests run the rounds: the service's own jobs (a round at start, however late a loaded
    # machine runs it) would take the rows the tests' rounds look at.
    definition = dataclasses.replace(
        build_definition(settings, fulfillment=SETTINGS), background_jobs=()
    )
    async with running_service(definition, settings) as runtime:  # migrated schema
        yield runtime, service_transactions(definition, settings, runtime.pool)


async def backorder(
    connection: Connection,
    keys: list[Key],
    lines: list[Line],
    tried_at: datetime | None = None,
) -> None:
    """Replacements waiting for stock (tried at ``tried_at``, or never yet)."""
    replacements = ReplacementRepository(connection, SCHEMA)
    for order_id, claim_id in keys:
        await replacements.insert_replacement(
            order_id, claim_id, lines=lines, ship_to=address("DE"), correlation_id="backorders"
        )
        if tried_at is not None:
            await replacements.replacement_attempted(
                order_id, claim_id, attempted_at=tried_at, requested_at=None
            )


async def test_a_batch_of_replacements_that_cannot_ship_does_not_hold_back_a_later_one(
    orderflow_infrastructure: Infrastructure,
    service: tuple[ServiceRuntime, Transactions[FulfillmentRepositories]],
) -> None:
    runtime, transactions = service
    gone, splint = new_sku("GONE"), new_sku("SPLINT")
    warehouse_id = f"T{tag()}-EU"
    stuck = [(uuid.uuid4(), f"claim-{n}") for n in range(BATCH)]  # a discontinued product
    later = (uuid.uuid4(), "claim-later")
    async with runtime.pool.acquire() as connection, connection.transaction():
        await backorder(connection, stuck, [Line(gone, 1)])
    async with runtime.pool.acquire() as connection, connection.transaction():
        await backorder(connection, [later], [Line(splint, 1)])
    stock = {gone: 0, splint: 3}  # splints came back since they were tried
    entry = WarehouseEntry(id=warehouse_id, name="EU", country="DE", near=[], stock=stock)
    await load_warehouses(orderflow_infrastructure, [entry])
    try:
        for _ in range(3):  # rounds
            await retry_backordered_replacements(transactions, settings=SETTINGS)

        status = await runtime.pool.fetchval(
            f"SELECT status FROM {SCHEMA}.replacements WHERE order_id = $1", later[0]
        )
        assert status == "requested"
        attempts = await runtime.pool.fetch(
            f"SELECT attempts FROM {SCHEMA}.replacements WHERE order_id = ANY($1::uuid[])",
            [order_id for order_id, _ in stuck],
        )
        assert {row["attempts"] for row in attempts} == {3}, "each tried once a round"
    finally:  # no other test's job should try them
        await runtime.pool.execute(
            f"DELETE FROM {SCHEMA}.replacements WHERE order_id = ANY($1::uuid[])",
            [order_id for order_id, _ in stuck],
        )


async def test_backordered_replacements_come_least_recently_tried_first(
    service: tuple[ServiceRuntime, Transactions[FulfillmentRepositories]],
) -> None:
    runtime, _ = service
    keys = [(uuid.uuid4(), f"claim-{n}") for n in range(4)]
    round_started = datetime.now(UTC)

    def mine(listed: list[ReplacementRecord]) -> list[Key]:
        found = [(r.order_id, r.claim_id) for r in listed]
        return [key for key in found if key in keys]

    async with runtime.pool.acquire() as connection:
        transaction = connection.transaction()  # rolled back: no job ever sees these rows
        await transaction.start()
        try:
            await backorder(
                connection, keys[:1], [Line("ANY", 1)], round_started - timedelta(minutes=1)
            )
            await backorder(
                connection, keys[1:2], [Line("ANY", 1)], round_started - timedelta(minutes=2)
            )
            await backorder(connection, keys[2:3], [Line("ANY", 1)], round_started)  # this round
            await backorder(connection, keys[3:], [Line("ANY", 1)], round_started)
            await connection.execute(  # stock came for it
                f"UPDATE {SCHEMA}.replacements SET last_attempt_at = NULL WHERE order_id = $1",
                keys[3][0],
            )
            replacements = ReplacementRepository(connection, SCHEMA)

            listed = await replacements.backordered_replacements(10_000, tried_before=round_started)
            assert mine(listed) == [keys[3], keys[1], keys[0]]
            set_aside = await replacements.backordered_replacements(
                10_000, tried_before=round_started, skipping=[keys[3], keys[0]]
            )
            assert mine(set_aside) == [keys[1]]
        finally:
            await transaction.rollback()


async def test_stock_for_a_sku_puts_its_replacements_first_without_waiting_for_the_job(
    service: tuple[ServiceRuntime, Transactions[FulfillmentRepositories]],
) -> None:
    runtime, _ = service
    came, other = new_sku("CAME"), new_sku("OTHER")
    both, other_only, being_tried = (
        (uuid.uuid4(), "both"),
        (uuid.uuid4(), "other-only"),
        (uuid.uuid4(), "being-tried"),
    )
    tried_at = datetime.now(UTC) - timedelta(minutes=1)
    async with runtime.pool.acquire() as connection, connection.transaction():
        await backorder(connection, [both], [Line(other, 1), Line(came, 2)], tried_at)
        await backorder(connection, [other_only], [Line(other, 1)], tried_at)
        await backorder(connection, [being_tried], [Line(came, 1)], tried_at)
    keys = [both, other_only, being_tried]
    try:
        async with (
            runtime.pool.acquire() as job,
            runtime.pool.acquire() as restock,
            job.transaction(),
        ):
            await job.execute(  # the retry job holds it: it is trying it right now
                f"SELECT 1 FROM {SCHEMA}.replacements WHERE order_id = $1 FOR UPDATE",
                being_tried[0],
            )
            async with restock.transaction():
                retry_first = ReplacementRepository(restock, SCHEMA).retry_first([came])
                await wait_at_most(5, retry_first)  # never waits for the job

        rows = await runtime.pool.fetch(
            f"SELECT claim_id, last_attempt_at FROM {SCHEMA}.replacements"
            " WHERE order_id = ANY($1::uuid[])",
            [order_id for order_id, _ in keys],
        )
        assert {row["claim_id"]: row["last_attempt_at"] for row in rows} == {
            "both": None,
            "other-only": tried_at,
            "being-tried": tried_at,
        }
    finally:
        await runtime.pool.execute(
            f"DELETE FROM {SCHEMA}.replacements WHERE order_id = ANY($1::uuid[])",
            [order_id for order_id, _ in keys],
        )


async def test_expired_reservations_leave_out_those_a_round_set_aside(
    service: tuple[ServiceRuntime, Transactions[FulfillmentRepositories]],
) -> None:
    runtime, _ = service
    set_aside, other = uuid.uuid4(), uuid.uuid4()
    expired_at = datetime.now(UTC) - timedelta(days=1)
    async with runtime.pool.acquire() as connection:
        transaction = connection.transaction()  # rolled back: the expiry job never sees them
        await transaction.start()
        try:
            await connection.executemany(
                f"""
                INSERT INTO {SCHEMA}.orders (order_id, status, correlation_id, expires_at)
                VALUES ($1, 'reserved', 'expiry', $2)
                """,
                [(set_aside, expired_at), (other, expired_at + timedelta(seconds=1))],
            )
            orders = OrderRepository(connection, SCHEMA)
            now = datetime.now(UTC)

            def mine(found: list[uuid.UUID]) -> list[uuid.UUID]:
                return [order_id for order_id in found if order_id in (set_aside, other)]

            assert mine(await orders.expired_reservations(now, 10_000)) == [set_aside, other]
            skipping = await orders.expired_reservations(now, 10_000, skipping=[set_aside])
            assert mine(skipping) == [other]
        finally:
            await transaction.rollback()
