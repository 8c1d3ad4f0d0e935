"""PostgreSQL TLS settings: from the DSN or libpq's variables, checked, and handed to asyncpg
by every pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import pytest
from orderflow_chassis.database import create_pool
from orderflow_chassis.postgres_tls import (
    PostgresSettingsError,
    tls_settings,
    with_tls_settings,
)

DSN = "postgresql://cart:pw@db.example:5432/orderflow"


@pytest.fixture
def root_certificate(tmp_path: Path) -> Path:
    path = tmp_path / "root.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")  # only its existence is checked here
    return path


def query_of(dsn: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(dsn).query))


def test_without_tls_settings_the_dsn_is_left_as_it_is() -> None:
    assert with_tls_settings(DSN, {}) == DSN


def test_libpq_variables_are_written_into_the_dsn(root_certificate: Path) -> None:
    dsn = with_tls_settings(
        DSN, {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(root_certificate)}
    )

    assert query_of(dsn) == {"sslmode": "verify-full", "sslrootcert": str(root_certificate)}
    assert dsn.startswith("postgresql://cart:pw@db.example:5432/orderflow?")


def test_what_the_dsn_says_wins_over_the_environment(root_certificate: Path) -> None:
    dsn = with_tls_settings(
        f"{DSN}?sslmode=require&application_name=x",
        {"PGSSLMODE": "disable", "PGSSLROOTCERT": str(root_certificate)},
    )

    assert query_of(dsn) == {
        "sslmode": "require",
        "application_name": "x",
        "sslrootcert": str(root_certificate),
    }


def test_an_unknown_mode_is_named_with_where_it_came_from() -> None:
    with pytest.raises(PostgresSettingsError, match="PGSSLMODE=verify: use one of disable"):
        tls_settings(DSN, {"PGSSLMODE": "verify"})
    with pytest.raises(PostgresSettingsError, match="sslmode in the DSN=on: use one of"):
        tls_settings(f"{DSN}?sslmode=on", {})


def test_a_missing_root_certificate_is_named() -> None:
    with pytest.raises(PostgresSettingsError, match=r"PGSSLROOTCERT=/nowhere/root\.crt: no such"):
        tls_settings(DSN, {"PGSSLMODE": "verify-ca", "PGSSLROOTCERT": "/nowhere/root.crt"})


def test_a_client_certificate_without_its_key_is_refused(root_certificate: Path) -> None:
    with pytest.raises(PostgresSettingsError, match="set sslcert and sslkey"):
        tls_settings(DSN, {"PGSSLCERT": str(root_certificate)})


async def test_the_pool_connects_with_the_tls_settings(
    monkeypatch: pytest.MonkeyPatch, root_certificate: Path
) -> None:
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(root_certificate))
    seen: dict[str, Any] = {}

    async def fake_create_pool(dsn: str, **options: Any) -> object:
        seen["dsn"] = dsn
        return object()

    monkeypatch.setattr(asyncpg, "create_pool", fake_create_pool)

    await create_pool(DSN, schema="cart", application_name="orderflow-cart")

    assert query_of(seen["dsn"]) == {
        "sslmode": "verify-full",
        "sslrootcert": str(root_certificate),
    }


async def test_a_pool_with_a_setting_that_cannot_work_does_not_try_to_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", "/nowhere/root.crt")

    async def unexpected(dsn: str, **options: Any) -> object:
        raise AssertionError("asyncpg.create_pool should not be called")

    monkeypatch.setattr(asyncpg, "create_pool", unexpected)

    with pytest.raises(PostgresSettingsError, match="PGSSLROOTCERT"):
        await create_pool(DSN, schema="cart", application_name="orderflow-cart")
