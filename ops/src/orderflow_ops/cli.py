"""``orderflow-ops``: what ops engineers run against a live system."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from orderflow_localinfra.local_stack import LocalStack
from orderflow_localinfra.provisioning import service_database_url

from orderflow_ops.event_log import contract_topics, read_log
from orderflow_ops.invariants import Deadlines, check, render
from orderflow_ops.timeline import build_timeline, render_text

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

BootstrapOption = Annotated[
    str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers")
]
PrefixOption = Annotated[
    str, typer.Option(envvar="KAFKA_TOPIC_PREFIX", help="topic namespace, if any")
]


@app.command()
def timeline(
    order_id: Annotated[str, typer.Argument(help="the order id (from OrderPlaced)")],
    bootstrap_servers: BootstrapOption = "127.0.0.1:19092",
    topic_prefix: PrefixOption = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text")] = False,
) -> None:
    """Every event of one order across all topics (dead letters included), in order."""
    log = asyncio.run(read_log(bootstrap_servers, contract_topics(topic_prefix)))
    entries = build_timeline(order_id, log)
    if as_json:
        typer.echo(json.dumps([entry.as_json() for entry in entries], indent=2))
    else:
        typer.echo(render_text(order_id, entries))
    if not entries:
        raise typer.Exit(1)


@app.command("check")
def check_system(
    bootstrap_servers: BootstrapOption = "127.0.0.1:19092",
    topic_prefix: PrefixOption = "",
    wait_minutes: Annotated[
        float, typer.Option(help="how long an order may wait for payment, stock or capture")
    ] = 10.0,
    ship_minutes: Annotated[
        float, typer.Option(help="how long a charged order may wait to be dispatched")
    ] = 30.0,
    delivery_minutes: Annotated[
        float, typer.Option(help="how long a dispatched order may wait to be delivered")
    ] = 120.0,
    fulfillment_url: Annotated[
        str, typer.Option(help="fulfillment's HTTP API, for the stock check")
    ] = "http://127.0.0.1:8003",
    service_checks: Annotated[
        bool, typer.Option(help="also check the payment ledger and the stock levels")
    ] = True,
) -> None:
    """Check the whole system's invariants; exit 1 on any violation."""
    log = asyncio.run(read_log(bootstrap_servers, contract_topics(topic_prefix)))
    waiting = timedelta(minutes=wait_minutes)
    deadlines = Deadlines(
        payment_and_stock=waiting,
        capture=waiting,
        compensation=waiting,
        shipment=timedelta(minutes=ship_minutes),
        delivery=timedelta(minutes=delivery_minutes),
    )
    report = check(log, now=datetime.now(UTC), deadlines=deadlines)
    typer.echo(render(report))
    failed = not report.ok
    if service_checks:
        failed = not _payment_ledger_reconciles(wait_minutes) or failed
        failed = not _no_negative_stock(fulfillment_url) or failed
    if failed:
        raise typer.Exit(1)


def _payment_ledger_reconciles(settle_minutes: float) -> bool:
    """The payment service's own reconciliation (it alone may read its schema)."""
    env = dict(os.environ)
    if "PAYMENT_DATABASE_URL" not in env:
        admin = env.get("DATABASE_URL") or LocalStack().postgres.settings.admin_database_url
        env["PAYMENT_DATABASE_URL"] = service_database_url(admin, "payment")
    typer.echo("\npayment ledger (orderflow-payment reconcile):")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "orderflow_payment", "reconcile"),
            *("--settle-s", str(int(settle_minutes * 60))),
        ],
        env=env,
        check=False,
    )
    return result.returncode == 0


def _no_negative_stock(fulfillment_url: str) -> bool:
    """Stock levels as fulfillment reports them: nothing negative, nothing over-reserved."""
    typer.echo(f"\nstock levels ({fulfillment_url}/stock):")
    try:
        levels = httpx.get(f"{fulfillment_url}/stock", timeout=10).raise_for_status().json()
    except httpx.HTTPError as error:
        typer.echo(f"  not checked: fulfillment is not reachable ({error})")
        return True
    bad = [
        level
        for level in levels
        if level["on_hand"] < 0 or level["reserved"] < 0 or level["available"] < 0
    ]
    for level in bad:
        typer.echo(f"  NEGATIVE {level['warehouse_id']} {level['sku']}: {level}")
    typer.echo(f"  {len(levels)} stock levels, {len(bad)} negative")
    return not bad
