"""``orderflow-returns run | migrate | rmas | retry-refund | warranty-policy``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from orderflow_chassis.clock import SystemClock
from orderflow_chassis.database import Connection, connect
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.service_cli import service_cli
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.structured_logging import configure_logging

from orderflow_returns.adapters.repository import ReturnsRepository
from orderflow_returns.bootstrap import SERVICE_NAME, build_definition
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers import retry_failed_refund
from orderflow_returns.settings import ReturnsSettings

app = service_cli(SERVICE_NAME, build_definition)

T = TypeVar("T")


def _with_connection(work: Callable[[Connection, ServiceSettings], Awaitable[T]]) -> T:
    settings = ServiceSettings.for_service(SERVICE_NAME)
    # Logs go to stderr, so stdout carries only the command's output (JSON lines).
    configure_logging(SERVICE_NAME, level=settings.log_level, fmt=settings.log_format)

    async def run() -> T:
        connection = await connect(settings.database_url, schema=settings.db_schema)
        try:
            return await work(connection, settings)
        finally:
            await connection.close()

    return asyncio.run(run())


@app.command()
def rmas(
    state: Annotated[
        RmaState | None, typer.Option(help="only RMAs in this state, e.g. refund_failed")
    ] = None,
    order: Annotated[uuid.UUID | None, typer.Option(help="only this order's RMAs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List RMAs as JSON lines, most recently changed first."""

    async def query(connection: Connection, settings: ServiceSettings) -> None:
        repository = ReturnsRepository(connection, settings.db_schema)
        for row in await repository.list_rmas(state=state, order_id=order, limit=limit):
            typer.echo(json.dumps(row, sort_keys=True))

    _with_connection(query)


@app.command("retry-refund")
def retry_refund(rma_id: uuid.UUID) -> None:
    """Request a refund_failed RMA's refund again (new refund id; the ceiling still holds)."""

    async def retry(connection: Connection, settings: ServiceSettings) -> bool:
        outbox = Outbox(
            settings.db_schema, producer=SERVICE_NAME, topic_prefix=settings.topic_prefix
        )
        async with connection.transaction():
            outcome = await retry_failed_refund(
                rma_id, connection=connection, outbox=outbox, clock=SystemClock()
            )
        typer.echo(outcome.message)
        return outcome.ok

    if not _with_connection(retry):
        raise typer.Exit(code=1)


@app.command("warranty-policy")
def warranty_policy() -> None:
    """Print the effective warranty term per country of usage (RETURNS_WARRANTY_POLICY_FILE)."""
    policy = ReturnsSettings().warranty_policy()
    typer.echo(f"default: {policy.default_months} months ({policy.default_basis})")
    for country in sorted(policy.countries):
        months, basis = policy.countries[country]
        typer.echo(f"{country}: {months} months ({basis})")
