"""Database faults while valid journeys flow through all four services.

Cancelled queries and killed sessions are what an infrastructure hiccup looks like to a
service: each must be retried, never dead-lettered. Every test proves 0 lost, 0 duplicated
effects, each aggregate's events in order, and 0 dead letters.

The PostgreSQL restart test stops and starts a private server of its own
(``tests.support.private_postgres``), so the tests running beside it never see it go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.postgres import find_bindir

from tests.hostile.corpus import new_producer
from tests.hostile.end_state import dead_letters, every_record
from tests.hostile.faults import Fault, fault_loop
from tests.hostile.saga_checks import journey_problems, order_problems
from tests.hostile.sizes import full_size_requested
from tests.hostile.system import (
    VALID_CORRELATION,
    FourServices,
    Journey,
    four_services,
    journey,
    new_run_id,
    publish_valid,
    stock_count,
)
from tests.support.private_postgres import on_server, private_postgres
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration

JOURNEYS = 14  # a full-size run (see conftest): FULL_JOURNEYS
FULL_JOURNEYS = 24
CATCH_UP_S = 90


@pytest.fixture(scope="module")
def journeys(pytestconfig: pytest.Config) -> int:
    return FULL_JOURNEYS if full_size_requested(pytestconfig) else JOURNEYS


async def run_journeys_under(
    infrastructure: Infrastructure,
    label: str,
    disturb: Callable[[FourServices, Callable[[], Awaitable[None]]], Awaitable[None]],
    count: int,
) -> None:
    """Start the services, let ``disturb`` publish the journeys (it calls the function it is
    given) while it injects faults, then check the end state."""
    run = new_run_id()
    async with four_services(infrastructure, unique_prefix(label)) as system:
        journeys: list[Journey] = [journey(n, run) for n in range(count)]
        producer = new_producer(system.kafka)
        await producer.start()

        async def publish() -> None:
            await publish_valid(producer, system.prefix, [stock_count(run)])
            for one in journeys:
                await publish_valid(producer, system.prefix, one.envelopes)
                await asyncio.sleep(0.1)  # spread out, so the faults land mid-saga

        try:
            await disturb(system, publish)
        finally:
            await producer.stop()
        lagging, unsent = await system.settle(CATCH_UP_S)
        records = await every_record(system)

    letters = dead_letters(records, VALID_CORRELATION)
    assert letters.of_valid_journeys == [], "a database hiccup was dead-lettered, not retried"
    assert letters.by_original == {}, f"valid events dead-lettered: {letters.by_original}"
    assert lagging == {}, f"consumers behind: {lagging}"
    assert unsent == 0, f"{unsent} outbox rows never published"
    assert journey_problems(records, journeys) == [], "an order was lost or applied twice"
    assert order_problems(records, VALID_CORRELATION) == []


def faulting(
    fault: Fault, every_s: float
) -> Callable[[FourServices, Callable[[], Awaitable[None]]], Awaitable[None]]:
    async def disturb(system: FourServices, publish: Callable[[], Awaitable[None]]) -> None:
        # The run's own database (four_services isolates each run).
        admin_url = system.infrastructure.admin_database_url
        async with fault_loop(admin_url, fault, every_s=every_s) as loop:
            await publish()
            # Keep disturbing while the saga's later steps run.
            await system.wait_caught_up(10)
        assert loop.signalled > 0, f"no backend was ever {fault}led: the test tested nothing"

    return disturb


async def test_cancelled_queries_are_retried_nothing_lost_nor_doubled(
    infrastructure: Infrastructure, journeys: int
) -> None:
    await run_journeys_under(infrastructure, "cancel", faulting("cancel", 0.05), journeys)


async def test_killed_sessions_are_retried_nothing_lost_nor_doubled(
    infrastructure: Infrastructure, journeys: int
) -> None:
    await run_journeys_under(infrastructure, "terminate", faulting("terminate", 0.3), journeys)


async def test_a_postgres_restart_mid_saga_loses_nothing(
    infrastructure: Infrastructure, journeys: int
) -> None:
    if find_bindir() is None:  # a server from the environment or a container, none local
        pytest.skip("no PostgreSQL binaries here to run a private server with")
    with private_postgres() as postgres:
        own = await on_server(infrastructure, postgres)

        async def disturb(system: FourServices, publish: Callable[[], Awaitable[None]]) -> None:
            publishing = asyncio.ensure_future(publish())
            await asyncio.sleep(0.8)  # some journeys are mid-saga
            assert await asyncio.to_thread(postgres.stop), "PostgreSQL was not running"
            await asyncio.sleep(3)  # the services see a dead database for a while
            await asyncio.to_thread(postgres.start)
            await publishing

        await run_journeys_under(own, "pg-restart", disturb, journeys)
