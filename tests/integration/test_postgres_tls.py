"""PostgreSQL TLS settings reach a real server's pool: demanding TLS of a server without it
fails at once, naming the setting, instead of being retried as "not up yet"."""

from __future__ import annotations

import time

import pytest
from orderflow_chassis.database import create_pool
from orderflow_chassis.postgres_tls import PostgresTlsError
from orderflow_chassis.waiting import wait_at_most
from orderflow_localinfra.discovery import Infrastructure

pytestmark = pytest.mark.integration

# Longer than create_pool's own retry window would be, shorter than a test timeout.
GUARD_S = 90.0


async def server_has_tls(dsn: str) -> bool:
    pool = await create_pool(dsn, schema="cart", application_name="tls-probe", max_size=1)
    try:
        return bool(await pool.fetchval("SELECT current_setting('ssl') = 'on'"))
    finally:
        await pool.close()


async def refused(dsn: str) -> PostgresTlsError:
    began = time.monotonic()
    with pytest.raises(PostgresTlsError) as error:
        await wait_at_most(
            GUARD_S,
            create_pool(dsn, schema="cart", application_name="tls-test", connect_timeout_s=30),
        )
    print(f"refused after {time.monotonic() - began:.2f} s: {error.value}")
    return error.value


async def test_pgsslmode_require_reaches_the_pool(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = infrastructure.service_database_urls["cart"]
    if await server_has_tls(dsn):
        pytest.skip("this server accepts TLS; the refusal needs one without it")
    monkeypatch.setenv("PGSSLMODE", "require")

    error = await refused(dsn)

    assert "PGSSLMODE=require" in str(error)
    assert "rejected SSL upgrade" in str(error)


async def test_sslmode_in_the_dsn_reaches_the_pool(infrastructure: Infrastructure) -> None:
    dsn = infrastructure.service_database_urls["cart"]
    if await server_has_tls(dsn):
        pytest.skip("this server accepts TLS; the refusal needs one without it")

    error = await refused(f"{dsn}?sslmode=require")

    assert "sslmode in the DSN=require" in str(error)


async def test_sslmode_prefer_falls_back_on_a_server_without_tls(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGSSLMODE", "prefer")
    pool = await create_pool(
        infrastructure.service_database_urls["cart"], schema="cart", application_name="tls-test"
    )
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
