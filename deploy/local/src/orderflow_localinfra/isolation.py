"""A database of its own for one test run, so runs never act on each other's rows.

Service schemas are fixed names (``cart``, ``payment``...), and topic prefixes keep runs apart
on Kafka only: a periodic job of one run (reservation expiry, abandoned carts) would otherwise
find rows an earlier run left and emit events about them onto its own topics. A run that starts
whole services gets a fresh database on the same server, with every service provisioned in it,
and drops it afterwards.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg

from .discovery import Infrastructure
from .dsn import with_database
from .provisioning import DEFAULT_SERVICES, provision_services

_NOT_IN_A_NAME = re.compile(r"[^a-z0-9_]+")


@asynccontextmanager
async def isolated_database(
    infrastructure: Infrastructure, label: str, services: Sequence[str] = DEFAULT_SERVICES
) -> AsyncIterator[Infrastructure]:
    """``infrastructure`` with a fresh database of its own (same server, same Kafka), its
    ``services`` provisioned there; the database is dropped on exit."""
    base = urlsplit(infrastructure.admin_database_url).path.lstrip("/") or "orderflow"
    suffix = _NOT_IN_A_NAME.sub("_", label.lower()).strip("_")[:20]
    name = f"{base}_run_{suffix}_{uuid.uuid4().hex[:8]}"[:63]
    admin = await asyncpg.connect(infrastructure.admin_database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    admin_url = with_database(infrastructure.admin_database_url, name)
    try:
        urls = await provision_services(admin_url, services)
        yield dataclasses.replace(
            infrastructure,
            admin_database_url=admin_url,
            service_database_urls=urls,
            started_here=frozenset(),
            _stop_callbacks=[],
        )
    finally:
        admin = await asyncpg.connect(infrastructure.admin_database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
