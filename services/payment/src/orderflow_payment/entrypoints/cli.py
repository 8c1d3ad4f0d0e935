"""``orderflow-payment run`` / ``migrate`` / ``outbox`` (from the chassis) and ``reconcile``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer
from orderflow_chassis.service_cli import ServiceDatabase, service_cli, with_service_database

from orderflow_payment.bootstrap import SERVICE_NAME, build_definition
from orderflow_payment.domain.reconciliation import ReconciliationRun
from orderflow_payment.entrypoints.reconcile import format_report
from orderflow_payment.handlers.reconciliation import reconcile_orders

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
    orders = [uuid.UUID(value) for value in order] if order else None
    since_at = datetime.fromisoformat(since) if since else None
    if since_at is not None and since_at.tzinfo is None:
        raise typer.BadParameter("give --since with a time zone, e.g. 2025-01-31T00:00:00Z")

    async def check(database: ServiceDatabase) -> ReconciliationRun:
        # One read-only, repeatable-read snapshot of all three records. The use case needs
        # no dependencies: no provider is built or called.
        async with database.transactions.begin(read_only=True) as uow:
            return await reconcile_orders(since_at, orders, settle_s, uow)

    run = with_service_database(SERVICE_NAME, build_definition, check)
    typer.echo(format_report(run, verbose=verbose))
    if not run.report.ok:
        raise typer.Exit(code=1)
