"""A small versioned SQL migration runner for asyncpg.

Why not yoyo or alembic: both drive the database through a synchronous DB-API driver
(psycopg2/SQLAlchemy), so every service would carry a second PostgreSQL driver only to run
plain SQL files. This runner is the part of them we need: numbered ``NNNN_name.sql`` files per
component, applied once, in order, in one transaction under an advisory lock (two instances
starting together do not race), recorded with a checksum so an edited, already-applied
migration is refused instead of silently diverging.

Migration files may use ``{schema}``; it is replaced by the service's validated schema name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg
import structlog

from orderflow_chassis.database import (
    Connection,
    acquired,
    read_only_failure,
    server_backoff,
    server_not_ready,
)
from orderflow_chassis.retry import retrying
from orderflow_chassis.settings import validate_identifier

log = structlog.get_logger(__name__)

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migrations on disk and the ones recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(component: str, directory: Path | Traversable) -> list[Migration]:
    """Read ``NNNN_name.sql`` files of one component, in version order."""
    migrations = []
    for entry in directory.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        migrations.append(
            Migration(component, int(match[1]), match[2], entry.read_text(encoding="utf-8"))
        )
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{component}: two migrations share a version number")
    return migrations


def chassis_migrations() -> list[Migration]:
    """The chassis's own tables (outbox, inbox, consumer positions), in every service schema."""
    return load_migrations("chassis", resources.files("orderflow_chassis") / "migrations")


# A migration may rewrite a large table, and other instances wait for it on the lock: longer
# than the pool's statement timeout allows other statements.
MIGRATION_TIMEOUT_S = 3600.0


async def migrate(
    connection: Connection, schema: str, migrations: Iterable[Migration]
) -> list[Migration]:
    """Apply what is not yet applied to ``schema``; return what was applied now."""
    validate_identifier(schema)
    pending: list[Migration] = []
    async with connection.transaction():
        # One lock per schema: concurrent starts of the same service wait for each other.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"{schema}.migrate",
            timeout=MIGRATION_TIMEOUT_S,
        )
        await connection.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                component  text        NOT NULL,
                version    integer     NOT NULL,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        rows = await connection.fetch(
            f"SELECT component, version, name, checksum FROM {schema}.schema_migrations"
        )
        applied = {(r["component"], r["version"]): r for r in rows}
        for migration in migrations:
            recorded = applied.get((migration.component, migration.version))
            if recorded is not None:
                if recorded["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{schema}: migration {migration.component}/{migration.version:04d}_"
                        f"{migration.name} was changed after it was applied; add a new "
                        "migration instead of editing an applied one"
                    )
                continue
            await connection.execute(
                migration.sql.replace("{schema}", schema), timeout=MIGRATION_TIMEOUT_S
            )
            await connection.execute(
                f"INSERT INTO {schema}.schema_migrations (component, version, name, checksum) "
                "VALUES ($1, $2, $3, $4)",
                migration.component,
                migration.version,
                migration.name,
                migration.checksum,
            )
            pending.append(migration)
    for migration in pending:
        log.info(
            "migration.applied",
            schema=schema,
            component=migration.component,
            version=migration.version,
            migration=migration.name,
        )
    return pending


async def migrate_service(
    connection: Connection, schema: str, service_migrations: Sequence[Migration] = ()
) -> list[Migration]:
    """Chassis tables first, then the service's own migrations."""
    return await migrate(connection, schema, [*chassis_migrations(), *service_migrations])


async def migrate_when_writable(
    pool: asyncpg.Pool,
    schema: str,
    service_migrations: Sequence[Migration] = (),
    *,
    wait_s: float = 60.0,
) -> list[Migration]:
    """:func:`migrate_service` on a connection of ``pool``, tried again for up to ``wait_s``
    while the server refuses writes: a service starting during a failover (its name still on
    the demoted server) waits for the writer, as it waits for a server still starting. Each
    refused session is closed (:func:`~orderflow_chassis.database.acquired`)."""

    def on_retry(_: int, error: BaseException, delay: float) -> None:
        log.warning("database.not_writable_at_start", error=str(error), retry_in_s=round(delay, 2))

    async for attempt in retrying(
        server_backoff(wait_s),
        # A refused session is closed; the next may meet the failover half done (review,
        # helper 128): a server restarting, or not answering yet.
        retry_if=lambda error: read_only_failure(error) or server_not_ready(error),
        on_retry=on_retry,
    ):
        with attempt:
            async with acquired(pool) as connection:
                return await migrate_service(connection, schema, service_migrations)
    raise AssertionError("unreachable: retrying raises once its attempts end")


async def pending_migrations(
    connection: Connection, schema: str, service_migrations: Sequence[Migration] = ()
) -> list[Migration]:
    """What :func:`migrate_service` would apply, read without writing (or locking) anything."""
    validate_identifier(schema)
    exists = await connection.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{schema}.schema_migrations"
    )
    applied: set[tuple[str, int]] = set()
    if exists:
        rows = await connection.fetch(f"SELECT component, version FROM {schema}.schema_migrations")
        applied = {(r["component"], r["version"]) for r in rows}
    return [
        migration
        for migration in [*chassis_migrations(), *service_migrations]
        if (migration.component, migration.version) not in applied
    ]
