"""``orderflow-console``: run the ops console (``run``), or apply its migrations (``migrate``).

Settings come from the environment: ``CONSOLE_DATABASE_URL`` (the console's own role),
``KAFKA_BOOTSTRAP_SERVERS``, ``CONSOLE_HTTP_PORT`` (and ``CONSOLE_HTTP_HOST``, 127.0.0.1 by
default), ``CONSOLE_USERS`` (name:role:password,...), ``CONSOLE_SERVICES``
(name=http://host:port,...); see :class:`~orderflow_ops.console.settings.ConsoleSettings`.
"""

from __future__ import annotations

import asyncio

import typer
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_cli import ServiceDatabase, with_service_database
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.structured_logging import configure_logging

from orderflow_ops.console.app import SERVICE_NAME, build_console
from orderflow_ops.console.auth import UsersError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def run() -> None:
    """Serve the console until SIGINT/SIGTERM."""
    settings = ServiceSettings.for_service(SERVICE_NAME)
    configure_logging(SERVICE_NAME, level=settings.log_level, fmt=settings.log_format)
    try:
        service = build_console(settings)
    except (UsersError, ValueError) as error:
        typer.echo(f"orderflow-console: {error}", err=True)
        raise typer.Exit(2) from error
    runtime = ServiceRuntime(service.definition, settings, hooks=service.hooks)
    asyncio.run(runtime.run_until_stopped())


@app.command()
def migrate() -> None:
    """Apply the console's migrations and exit."""

    async def apply(database: ServiceDatabase) -> None:
        schema = database.settings.db_schema
        async with database.pool.acquire() as connection:
            applied = await migrate_service(connection, schema, database.definition.migrations)
        typer.echo(f"{schema}: {len(applied)} migration(s) applied")

    with_service_database(
        SERVICE_NAME,
        lambda settings: build_console(settings).definition,
        apply,
        require_migrated=False,
    )
