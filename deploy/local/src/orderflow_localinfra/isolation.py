"""A database of its own for one test run, so runs never act on each other's rows.

Service schemas are fixed names (``cart``, ``payment``...), and topic prefixes keep runs apart
on Kafka only: a periodic job of one run (reservation expiry, abandoned carts) would otherwise
find rows an earlier run left and emit events about them onto its own topics. A run that starts
whole services gets a fresh database on the same server, with every service provisioned in it,
and drops it afterwards.

Dropping waits out sessions the admin may not end. ``DROP DATABASE ... WITH (FORCE)`` ends the
run's own sessions (the admin is a member of every service role), but refuses outright while a
session it has no right to signal is there: an autovacuum worker busy with the rows the run
wrote, or another role's session still closing. Those end on their own within moments.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg

from .discovery import Infrastructure
from .dsn import with_database
from .provisioning import DEFAULT_SERVICES, provision_services

_NOT_IN_A_NAME = re.compile(r"[^a-z0-9_]+")
# How long a drop waits for sessions it may not end (an autovacuum pass over a run's tables).
DROP_PATIENCE_S = 60.0
_DROP_RETRY_S = 0.5


@asynccontextmanager
async def isolated_database(
    infrastructure: Infrastructure, label: str, services: Sequence[str] = DEFAULT_SERVICES
) -> AsyncIterator[Infrastructure]:
    """``infrastructure`` with a fresh database of its own (same server, same Kafka), its
    ``services`` provisioned there; the database is dropped on exit."""
    suffix = _NOT_IN_A_NAME.sub("_", label.lower()).strip("_")[:20]
    name = f"{database_name(infrastructure)}_run_{suffix}_{uuid.uuid4().hex[:8]}"[:63]
    own = await fresh_database(infrastructure, name, services)
    try:
        yield own
    finally:
        await drop_database(infrastructure.admin_database_url, name)


def database_name(infrastructure: Infrastructure) -> str:
    return urlsplit(infrastructure.admin_database_url).path.lstrip("/") or "orderflow"


async def fresh_database(
    infrastructure: Infrastructure, name: str, services: Sequence[str] = DEFAULT_SERVICES
) -> Infrastructure:
    """``infrastructure`` with database ``name`` made afresh on its server (one an earlier,
    crashed session left is dropped first) and ``services`` provisioned there."""
    await drop_database(infrastructure.admin_database_url, name)
    admin = await asyncpg.connect(infrastructure.admin_database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        return await provisioned_on(
            infrastructure, with_database(infrastructure.admin_database_url, name), services
        )
    except BaseException:
        await drop_database(infrastructure.admin_database_url, name)
        raise


async def provisioned_on(
    infrastructure: Infrastructure, admin_url: str, services: Sequence[str] = DEFAULT_SERVICES
) -> Infrastructure:
    """``infrastructure`` (its broker) with the database at ``admin_url`` as its own, and
    ``services`` provisioned there. The copy never stops what the original started."""
    return dataclasses.replace(
        infrastructure,
        admin_database_url=admin_url,
        service_database_urls=await provision_services(admin_url, services),
        started_here=frozenset(),
        _stop_callbacks=[],
    )


async def drop_database(admin_url: str, name: str, *, patience_s: float = DROP_PATIENCE_S) -> None:
    """Drop database ``name``, ending its sessions; wait while one the admin may not end is
    still there, and name those sessions if they outlast ``patience_s``."""
    admin = await asyncpg.connect(admin_url)
    try:
        deadline = time.monotonic() + patience_s
        while True:
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if time.monotonic() >= deadline:
                    sessions = await admin.fetch(
                        "SELECT pid, usename, backend_type FROM pg_stat_activity"
                        " WHERE datname = $1 AND pid <> pg_backend_pid()",
                        name,
                    )
                    raise RuntimeError(
                        f"could not drop database {name!r} within {patience_s:.0f} s: "
                        "sessions the admin may not end are still connected: "
                        + ", ".join(
                            f"pid {s['pid']} ({s['backend_type']}, role {s['usename']})"
                            for s in sessions
                        )
                    ) from None
                await asyncio.sleep(_DROP_RETRY_S)
    finally:
        await admin.close()
