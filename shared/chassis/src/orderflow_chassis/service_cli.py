"""The command line every service gets: ``run``, ``migrate`` and ``outbox parked|retry``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from orderflow_contracts.policies import PolicySettingsError
from pydantic import ValidationError

from orderflow_chassis import outbox_store
from orderflow_chassis.database import PostgresUnavailableError, create_pool
from orderflow_chassis.kafka_access import KafkaAccessError
from orderflow_chassis.kafka_security import KafkaSettingsError
from orderflow_chassis.migrations import migrate_service, pending_migrations
from orderflow_chassis.postgres_tls import PostgresSettingsError, PostgresTlsError
from orderflow_chassis.production_profile import ProductionProfileError
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition, service_transactions
from orderflow_chassis.service_topics import ServiceTopicsError
from orderflow_chassis.settings import ServiceSettings, SettingsFileError
from orderflow_chassis.structured_logging import configure_logging
from orderflow_chassis.topic_catalog import TopicCatalogError
from orderflow_chassis.unit_of_work import DatabaseTransactions
from orderflow_chassis.waiting import run_to_the_end

T = TypeVar("T")

STARTUP_REFUSALS = (
    ValidationError,
    ProductionProfileError,
    ServiceTopicsError,
    TopicCatalogError,
    KafkaSettingsError,
    KafkaAccessError,
    PostgresSettingsError,
    PostgresTlsError,
    PostgresUnavailableError,
    PolicySettingsError,
    SettingsFileError,
)
"""Start-up failures that name a setting, credential or topic to fix: printed, not raised."""


@dataclass(frozen=True)
class ServiceDatabase:
    """What a CLI command works with: the service's settings, definition and units of work."""

    settings: ServiceSettings
    definition: ServiceDefinition
    pool: asyncpg.Pool
    transactions: DatabaseTransactions[Any]


def with_service_database(
    service_name: str,
    build_definition: Callable[[ServiceSettings], ServiceDefinition],
    work: Callable[[ServiceDatabase], Awaitable[T]],
    *,
    require_migrated: bool = True,
) -> T:
    """Run a command's ``work`` against the service's own schema, then close everything.

    Only the ``migrate`` command changes the schema (it passes ``require_migrated=False``).
    Any other command on a schema with migrations still pending stops with a message saying
    so, instead of writing DDL behind an operator's back (or failing on a missing table).
    """
    settings = ServiceSettings.for_service(service_name)
    configure_logging(service_name, level="WARNING", fmt="console")
    definition = build_definition(settings)
    schema = settings.db_schema

    async def run() -> T:
        pool = await create_pool(
            settings.database_url, schema=schema, application_name=f"{service_name}-cli"
        )
        try:
            async with pool.acquire() as connection:
                if require_migrated:
                    pending = await pending_migrations(connection, schema, definition.migrations)
                    if pending:
                        names = ", ".join(
                            f"{m.component}/{m.version:04d}_{m.name}" for m in pending
                        )
                        typer.echo(
                            f"{schema}: {len(pending)} migration(s) not applied ({names}); "
                            f"run `orderflow-{service_name} migrate` or start the service first",
                            err=True,
                        )
                        raise typer.Exit(code=2)
            transactions = service_transactions(definition, settings, pool)
            return await work(ServiceDatabase(settings, definition, pool, transactions))
        finally:
            await pool.close()

    return asyncio.run(run())


def apply_migrations(
    service_name: str, build_definition: Callable[[ServiceSettings], ServiceDefinition]
) -> None:
    """A ``migrate`` command's work: apply the pending migrations, say how many."""

    async def apply(database: ServiceDatabase) -> None:
        schema = database.settings.db_schema
        async with database.pool.acquire() as connection:
            applied = await migrate_service(connection, schema, database.definition.migrations)
        typer.echo(f"{schema}: {len(applied)} migration(s) applied")

    with_service_database(service_name, build_definition, apply, require_migrated=False)


def serve_until_stopped(service_name: str, runtime: ServiceRuntime) -> None:
    """Run ``runtime`` until it stops. Stopped on its own (a task crashed, a consumer group
    refused it), the process exits 1 saying why, for supervisors that restart only on failure;
    asked to stop (SIGTERM, SIGINT), it returns."""
    run_to_the_end(runtime.run_until_stopped(), left_running=lambda: runtime.tasks_left_running)
    if runtime.failure is not None:
        typer.echo(f"orderflow-{service_name}: stopped: {runtime.failure}", err=True)
        raise typer.Exit(code=1)


def service_cli(
    service_name: str, build_definition: Callable[[ServiceSettings], ServiceDefinition]
) -> typer.Typer:
    """A typer app for one service; ``build_definition`` is its composition root."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, help=f"{service_name} service")

    def load() -> tuple[ServiceSettings, ServiceDefinition]:
        settings = ServiceSettings.for_service(service_name)
        configure_logging(service_name, level=settings.log_level, fmt=settings.log_format)
        return settings, build_definition(settings)

    @app.command()
    def run() -> None:
        """Migrate, then consume, relay and serve HTTP until SIGINT/SIGTERM."""
        try:
            settings, definition = load()
            serve_until_stopped(service_name, ServiceRuntime(definition, settings))
        except STARTUP_REFUSALS as error:
            # A settings or topics problem is the operator's to fix: say what, no traceback.
            typer.echo(f"orderflow-{service_name}: cannot start: {error}", err=True)
            raise typer.Exit(code=2) from None

    @app.command()
    def migrate() -> None:
        """Apply pending migrations to the service's schema and exit."""
        apply_migrations(service_name, build_definition)

    outbox_app = typer.Typer(
        no_args_is_help=True, help="Outbox rows Kafka refused for good (parked), and retrying them"
    )
    app.add_typer(outbox_app, name="outbox")

    @outbox_app.command("parked")
    def list_parked() -> None:
        """List parked outbox rows, one JSON object per line: why Kafka refused each one."""

        async def parked(database: ServiceDatabase) -> list[outbox_store.ParkedRow]:
            async with database.pool.acquire() as connection:
                return await outbox_store.list_parked(connection, database.settings.db_schema)

        for row in with_service_database(service_name, build_definition, parked):
            typer.echo(json.dumps(row.as_json()))

    @outbox_app.command("retry")
    def retry(
        ids: Annotated[list[int] | None, typer.Argument(help="outbox ids to un-park")] = None,
        every: Annotated[bool, typer.Option("--all", help="un-park every parked row")] = False,
    ) -> None:
        """Un-park rows after the cause is fixed; the relay publishes them again.

        An un-parked event reaches its topic after the later events of its aggregate that
        were published meanwhile.
        """
        if bool(ids) == every:
            raise typer.BadParameter("give outbox ids, or --all")

        async def unpark(database: ServiceDatabase) -> str:
            schema = database.settings.db_schema
            async with database.pool.acquire() as connection:
                count = await outbox_store.unpark(connection, schema, None if every else ids)
            return f"{schema}: {count} parked row(s) un-parked"

        typer.echo(with_service_database(service_name, build_definition, unpark))

    return app
