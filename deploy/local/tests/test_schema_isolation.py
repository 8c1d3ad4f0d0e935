"""A service's database role can use its own schema and nobody else's (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from orderflow_localinfra.discovery import Infrastructure

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe_urls(orderflow_infrastructure: Infrastructure) -> dict[str, str]:
    return orderflow_infrastructure.provision(["probe_a", "probe_b"])


@pytest.fixture
async def owner(probe_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(probe_urls["probe_a"])
    await connection.execute(
        """
        DROP TABLE IF EXISTS probe_a.secrets;
        CREATE TABLE probe_a.secrets (id int PRIMARY KEY, note text NOT NULL);
        INSERT INTO probe_a.secrets VALUES (1, 'owned by probe_a');
        """
    )
    yield connection
    await connection.close()


@pytest.fixture
async def intruder(probe_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(probe_urls["probe_b"])
    yield connection
    await connection.close()


async def test_a_service_reads_and_writes_its_own_schema(owner: asyncpg.Connection) -> None:
    await owner.execute("INSERT INTO probe_a.secrets VALUES (2, 'second')")
    # search_path is the service's schema, so unqualified names resolve there too.
    assert await owner.fetchval("SELECT count(*) FROM secrets") == 2
    assert await owner.fetchval("SELECT current_schema()") == "probe_a"


@pytest.mark.usefixtures("owner")
@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM probe_a.secrets",
        "INSERT INTO probe_a.secrets VALUES (99, 'intrusion')",
        "UPDATE probe_a.secrets SET note = 'changed'",
        "DELETE FROM probe_a.secrets",
        "CREATE TABLE probe_a.planted (id int)",
    ],
)
async def test_another_service_can_neither_read_nor_write_it(
    intruder: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await intruder.execute(statement)


async def test_no_service_can_create_objects_in_public(intruder: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await intruder.execute("CREATE TABLE public.shared_by_accident (id int)")


async def test_the_four_services_are_isolated_from_each_other(
    orderflow_infrastructure: Infrastructure,
) -> None:
    urls = orderflow_infrastructure.service_database_urls
    services = ["cart", "payment", "fulfillment", "returns"]
    for service in services:
        connection = await asyncpg.connect(urls[service])
        try:
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {service}.isolation_probe (id int)"
            )
            for other in services:
                if other == service:
                    continue
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await connection.fetch(f"SELECT * FROM {other}.isolation_probe")
        finally:
            await connection.close()


def test_provisioning_twice_changes_nothing(
    orderflow_infrastructure: Infrastructure, probe_urls: dict[str, str]
) -> None:
    assert orderflow_infrastructure.provision(["probe_a", "probe_b"]) == probe_urls
