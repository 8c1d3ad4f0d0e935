"""``orderflow-payment run`` / ``migrate`` (from the chassis) and ``reconcile``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

import typer
from orderflow_chassis.database import connect
from orderflow_chassis.service_cli import service_cli
from orderflow_chassis.settings import ServiceSettings

from orderflow_payment.bootstrap import SERVICE_NAME, build_definition
from orderflow_payment.entrypoints.reconcile import format_report, run_reconciliation

app = service_cli(SERVICE_NAME, build_definition)


@app.command()
def reconcile(
    since: Annotated[
        str | None,
        typer.Option(help="Only orders with activity at or after this time (ISO 8601 with zone)."),
    ] = None,
    order: Annotated[
        list[str] | None, typer.Option("--order", help="Only this order id (repeatable).")
    ] = None,
    settle_s: Annotated[
        float,
        typer.Option(help="Skip orders touched in the last N seconds (still in flight)."),
    ] = 60.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every order.")] = False,
) -> None:
    """Check per order: captured - refunded = ledger = the provider's record; no refund over
    the capture; nothing captured twice; the ledger balances per currency. Exit 1 on any
    mismatch."""
    settings = ServiceSettings.for_service(SERVICE_NAME)
    orders = [uuid.UUID(value) for value in order] if order else None
    since_at = datetime.fromisoformat(since) if since else None
    if since_at is not None and since_at.tzinfo is None:
        raise typer.BadParameter("give --since with a time zone, e.g. 2025-01-31T00:00:00Z")

    async def check() -> bool:
        connection = await connect(settings.database_url, schema=settings.db_schema)
        try:
            run = await run_reconciliation(
                connection, settings.db_schema, since=since_at, orders=orders, settle_s=settle_s
            )
        finally:
            await connection.close()
        typer.echo(format_report(run, verbose=verbose))
        return run.report.ok

    if not asyncio.run(check()):
        raise typer.Exit(code=1)
