"""The command line every service gets: ``run`` and ``migrate``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer

from orderflow_chassis.database import create_pool
from orderflow_chassis.migrations import migrate_service
from orderflow_chassis.runtime import ServiceDefinition, ServiceRuntime
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.structured_logging import configure_logging


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

    return app
