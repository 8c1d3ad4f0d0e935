"""``orderflow-console``: run the ops console (``run``), or apply its migrations (``migrate``).

Settings come from the environment: ``CONSOLE_DATABASE_URL`` (the console's own role),
``KAFKA_BOOTSTRAP_SERVERS``, ``CONSOLE_HTTP_PORT`` (and ``CONSOLE_HTTP_HOST``, 127.0.0.1 by
default), ``CONSOLE_USERS`` (name:role:password,...), ``CONSOLE_SERVICES``
(name=http://host:port,...); see :class:`~orderflow_ops.console.settings.ConsoleSettings`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_cli import (
    STARTUP_REFUSALS,
    ServiceDatabase,
    apply_migrations,
    serve_until_stopped,
    with_service_database,
)
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.structured_logging import configure_logging
from pydantic import ValidationError

from orderflow_ops.console.app import SERVICE_NAME, build_console
from orderflow_ops.console.auth import UsersError
from orderflow_ops.console.fill import fill
from orderflow_ops.console.page_timings import time_pages
from orderflow_ops.console.retention import expire_orders
from orderflow_ops.console.settings import SERVICE_DEFAULTS, ConsoleSettings, ConsoleSettingsError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def refusal_reason(error: Exception) -> str:
    """A start-up refusal on one line, naming the variable to fix when it is a setting."""
    if not isinstance(error, ValidationError):
        return " ".join(str(error).split())
    problems = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        variable = field if field.isupper() else f"CONSOLE_{field.upper()}"
        problems.append(f"{variable}: {problem['msg']}")
    return "; ".join(problems)


@app.command()
def run() -> None:
    """Serve the console until SIGINT/SIGTERM."""
    try:
        settings = ServiceSettings.for_service(SERVICE_NAME, defaults=SERVICE_DEFAULTS)
        configure_logging(SERVICE_NAME, level=settings.log_level, fmt=settings.log_format)
        service = build_console(settings)
        runtime = ServiceRuntime(service.definition, settings, hooks=service.hooks)
        serve_until_stopped(SERVICE_NAME, runtime)
    except (*STARTUP_REFUSALS, UsersError, ConsoleSettingsError) as error:
        # A settings, credentials or Kafka problem is the operator's to fix: say what, in
        # one line, without a traceback (like every service's ``run``).
        typer.echo(f"orderflow-console: cannot start: {refusal_reason(error)}", err=True)
        raise typer.Exit(code=2) from None


@app.command()
def migrate() -> None:
    """Apply the console's migrations and exit."""
    apply_migrations(SERVICE_NAME, lambda settings: build_console(settings).definition)


@app.command("fill")
def fill_read_model(
    orders: Annotated[int, typer.Option(min=1, help="synthetic orders to add")] = 100_000,
) -> None:
    """Add synthetic orders to the read model, to measure the pages at scale (never on a
    console watching a real system: they are indistinguishable from real orders)."""

    async def work(database: ServiceDatabase) -> None:
        started = time.perf_counter()
        events = await fill(database.pool, database.settings.db_schema, orders)
        elapsed = time.perf_counter() - started
        typer.echo(f"console: added {orders} orders ({events} events) in {elapsed:.1f}s")

    with_service_database(SERVICE_NAME, lambda settings: build_console(settings).definition, work)


@app.command("expire-orders")
def expire_ended_orders(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="older than this many days; default CONSOLE_RETENTION_DAYS"),
    ] = None,
) -> None:
    """Run one retention pass now (the running console does it every
    CONSOLE_RETENTION_INTERVAL_S): delete ended orders older than the retention, with their
    timelines, and say how many and how long it took."""
    options = ConsoleSettings()
    keep_days = days if days is not None else options.retention_days
    if keep_days == 0:
        typer.echo("console: CONSOLE_RETENTION_DAYS=0 keeps every order; nothing to do")
        return

    async def work(database: ServiceDatabase) -> None:
        started = time.perf_counter()
        result = await expire_orders(
            database.pool,
            database.settings.db_schema,
            older_than=datetime.now(UTC) - timedelta(days=keep_days),
            batch_size=options.retention_batch_size,
        )
        elapsed = time.perf_counter() - started
        typer.echo(
            f"console: {result.orders} ended order(s) older than {keep_days} day(s) deleted "
            f"with {result.events} event(s) in {elapsed:.1f}s; {result.kept_shared} kept "
            "(their timeline is shared with an order that stays)"
        )

    with_service_database(SERVICE_NAME, lambda settings: build_console(settings).definition, work)


@app.command("time-pages")
def time_console_pages(
    url: Annotated[str, typer.Option(help="the console, e.g. http://127.0.0.1:8000")],
    user: Annotated[str, typer.Option(help="a CONSOLE_USERS name")],
    password: Annotated[str, typer.Option(envvar="CONSOLE_PASSWORD", help="its password")],
    repeat: Annotated[int, typer.Option(min=1)] = 5,
) -> None:
    """Print how long each page takes to answer (median and worst of --repeat fetches)."""
    for timing in time_pages(url, user, password, repeat):
        typer.echo(
            f"{timing.path:<60} {timing.status}  median {timing.median_ms:7.1f} ms  "
            f"max {timing.max_ms:7.1f} ms  {timing.size_kb:6.1f} KiB"
        )
