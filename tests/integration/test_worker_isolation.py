"""Under ``make test``'s xdist workers each worker has a database of its own on the shared
server (decision 57): service schemas have fixed names, so two workers' tests on one schema
would otherwise share its outbox, its relay lease and its periodic jobs."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import asyncpg
import pytest
from orderflow_localinfra.discovery import Infrastructure

pytestmark = pytest.mark.integration


async def test_each_worker_has_a_database_of_its_own(infrastructure: Infrastructure) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = urlsplit(infrastructure.admin_database_url).path.lstrip("/")
    if worker is None:
        pytest.skip("one process: the shared database is this session's alone")
    assert re.search(rf"_{worker}(_[0-9a-f]+)?$", name), name
    for service, url in infrastructure.service_database_urls.items():
        connection = await asyncpg.connect(url)
        try:
            assert await connection.fetchval("SELECT current_database()") == name, service
            assert (
                await connection.fetchval(
                    "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
                    service,
                )
                == 1
            ), f"{service} is not provisioned in the worker's database"
        finally:
            await connection.close()
