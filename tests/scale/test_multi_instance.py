"""Two instances of every service against one broker and one database, under a storefront's
load, while an instance is stopped and restarted, the database is lost for a few seconds, and
each relay leader is SIGKILLed and restarted.

Proves: every checked-out cart ends as exactly one completed or cancelled order; no effect is
applied twice (payment ledger, stock movements, once-only events); each producer's events of an
order keep their order on every topic; every instance recovers from the database outage by
itself (none the test did not end is a new process); a relay lease moves only away from an
instance that was stopped or killed, or whose session the outage ended (so one relay publishes
per service at a time: publishing is fenced by the lease, see decision 20); ``orderflow-ops
check`` passes; and PostgreSQL detected no deadlock in the run's database. Prints how long
each killed instance's partitions stalled.

Runs only when selected (a few minutes on two cores): ``make test-multi-instance``, i.e.
``pytest -m multi_instance``, or ORDERFLOW_MULTI_INSTANCE=1.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.leftover_topics import delete_test_topics
from orderflow_localinfra.provisioning import DEFAULT_SERVICES

from tests.support.fleet import (
    Fleet,
    Instance,
    LeaseWatch,
    broker_min_session_ms,
    database_outage,
    deadlocks,
    seconds_until_group_has,
    wait_for_leader,
)
from tests.support.scale_checks import (
    assert_a_clean_run,
    session_environment,
    shoppers_on,
    takeovers_from_live_leaders,
    until_checkouts,
    wait_until_finished,
)
from tests.support.service_harness import unique_prefix

pytestmark = [pytest.mark.multi_instance, pytest.mark.e2e, pytest.mark.integration]

INSTANCES = 2
SHOPPERS = 80
SHOPPERS_PER_SECOND = 4.0
OUTAGE_S = 3.0
SESSION_MS = 2000  # unless the broker's group.min.session.timeout.ms is higher


@pytest.fixture
async def fleet(orderflow_infrastructure: Infrastructure, tmp_path: Path) -> AsyncIterator[Fleet]:
    session_ms = max(
        SESSION_MS, await broker_min_session_ms(orderflow_infrastructure.kafka_bootstrap_servers)
    )
    env = session_environment(session_ms)
    async with isolated_database(orderflow_infrastructure, "multi") as own:
        fleet = Fleet(own, unique_prefix("multi"), tmp_path, INSTANCES, env)
        try:
            await asyncio.to_thread(fleet.start)
            yield fleet
        finally:
            await asyncio.to_thread(fleet.stop_all)
            prefix = re.compile("^" + re.escape(fleet.prefix))
            await delete_test_topics(orderflow_infrastructure.kafka_bootstrap_servers, prefix)


def group_of(fleet: Fleet, service: str) -> str:
    return f"{fleet.prefix}orderflow.{service}.events"


async def settled(fleet: Fleet, service: str) -> None:
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    await seconds_until_group_has(bootstrap, group_of(fleet, service), INSTANCES)


async def kill_and_measure(fleet: Fleet, victim: Instance) -> float:
    """SIGKILL ``victim``; how long until its group carries on without it (the stall)."""
    await settled(fleet, victim.service)
    await asyncio.to_thread(fleet.kill, victim)
    bootstrap = fleet.infrastructure.kafka_bootstrap_servers
    return await seconds_until_group_has(bootstrap, group_of(fleet, victim.service), INSTANCES - 1)


async def test_two_instances_of_every_service_survive_stops_and_kills(
    fleet: Fleet, orderflow_infrastructure: Infrastructure
) -> None:
    infrastructure = fleet.infrastructure
    deadlocks_before = await deadlocks(infrastructure.admin_database_url)
    watch = LeaseWatch(infrastructure.admin_database_url, DEFAULT_SERVICES)
    watch.start()
    stalls: dict[str, float] = {}
    outage_began: float | None = None
    try:
        async with shoppers_on(fleet, shoppers=SHOPPERS, per_second=SHOPPERS_PER_SECOND) as shop:
            await until_checkouts(shop, 10)  # orders flow before anything is disturbed

            # A rolling restart: SIGTERM (it leaves the group at once), then back.
            rolled = fleet.of("fulfillment")[-1]
            await asyncio.to_thread(fleet.stop, rolled)
            await asyncio.to_thread(fleet.restart, rolled)
            # The database lost for a few seconds: every instance carries on by itself.
            pids = {i.label: i.pid for i in fleet.instances}
            own_database = urlsplit(infrastructure.admin_database_url).path.lstrip("/")
            server = orderflow_infrastructure.admin_database_url  # another database, same server
            async with database_outage(server, own_database) as outage_began:
                await asyncio.sleep(OUTAGE_S)
            # A machine failure of each relay leader: SIGKILL, its partitions stall, it returns.
            for service in ("payment", "fulfillment", "cart"):
                victim = await wait_for_leader(watch, fleet, service)
                stalls[service] = await kill_and_measure(fleet, victim)
                await asyncio.to_thread(fleet.restart, victim)

            log = await wait_until_finished(fleet, shop, SHOPPERS)
            # Recovered by themselves: every instance the test did not stop or kill still runs
            # as the process it was before the outage.
            untouched = [i for i in fleet.instances if pids[i.label] not in fleet.ended_at]
            assert [(i.label, i.pid) for i in untouched] == [
                (i.label, pids[i.label]) for i in untouched
            ]
    finally:
        await watch.stop()

    print(  # the figures this run measured, for the report
        "\nstall after SIGKILL (s): "
        + ", ".join(f"{service} {seconds:.1f}" for service, seconds in stalls.items())
        + f"; lease changes: {[(s, p, n) for _, s, p, n in watch.changes]}"
    )
    await assert_a_clean_run(
        fleet,
        shop,
        log,
        shoppers=SHOPPERS,
        takeovers=takeovers_from_live_leaders(fleet, watch, outage_began),
        deadlocks_before=deadlocks_before,
    )
