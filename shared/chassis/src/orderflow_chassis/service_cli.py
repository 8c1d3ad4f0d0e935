"""The command line every service gets: ``run``, ``migrate`` and ``outbox parked|retry``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from orderflow_chassis import outbox_store
from orderflow_chassis.database import Connection, create_pool
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.runtime import ServiceDefinition, ServiceRuntime
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.structured_logging import configure_logging

T = TypeVar("T")


def _with_connection(
    settings: ServiceSettings, application_name: str, work: Callable[[Connection], Awaitable[T]]
) -> T:
    async def run() -> T:
        pool = await create_pool(
            settings.database_url, schema=settings.db_schema, application_name=application_name
        )
        try:
            async with pool.acquire() as connection:
                return await work(connection)
        finally:
            await pool.close()

    return asyncio.run(run())


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
        settings, definition = load()
        asyncio.run(ServiceRuntime(definition, settings).run_until_stopped())

    @app.command()
    def migrate() -> None:
        """Apply pending migrations to the service's schema and exit."""
        settings, definition = load()

        async def apply() -> None:
            pool = await create_pool(
                settings.database_url, schema=settings.db_schema, application_name="migrate"
            )
            try:
                async with pool.acquire() as connection:
                    applied = await migrate_service(
                        connection, settings.db_schema, definition.migrations
                    )
            finally:
                await pool.close()
            typer.echo(f"{settings.db_schema}: {len(applied)} migration(s) applied")

        asyncio.run(apply())

    outbox_app = typer.Typer(
        no_args_is_help=True, help="Outbox rows Kafka refused for good (parked), and retrying them"
    )
    app.add_typer(outbox_app, name="outbox")

    @outbox_app.command("parked")
    def list_parked() -> None:
        """List parked outbox rows, one JSON object per line: why Kafka refused each one."""
        settings, _ = load()
        parked = _with_connection(
            settings,
            "outbox-cli",
            lambda connection: outbox_store.list_parked(connection, settings.db_schema),
        )
        for row in parked:
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
        settings, _ = load()
        count = _with_connection(
            settings,
            "outbox-cli",
            lambda connection: outbox_store.unpark(
                connection, settings.db_schema, None if every else ids
            ),
        )
        typer.echo(f"{settings.db_schema}: {count} parked row(s) un-parked")

    return app
