"""``orderflow-ops``: what ops engineers run against a live system."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from orderflow_chassis.kafka_tool_profile import kafka_servers_for_tool
from orderflow_contracts.card_data import redact_card_numbers
from orderflow_localinfra.local_stack import LocalStack
from orderflow_localinfra.provisioning import DEFAULT_SERVICES, service_database_url

from orderflow_ops.event_log import contract_topics, read_log
from orderflow_ops.invariants import Deadlines, check, render
from orderflow_ops.timeline import build_timeline, render_text

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

# `orderflow-system run` gives the services consecutive ports from 8001, in this order.
RUN_COMMAND_FULFILLMENT_PORT = 8001 + DEFAULT_SERVICES.index("fulfillment")

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        envvar="KAFKA_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers (development default: 127.0.0.1:19092)",
    ),
]
TOOL = "orderflow-ops"
PrefixOption = Annotated[
    str, typer.Option(envvar="KAFKA_TOPIC_PREFIX", help="topic namespace, if any")
]


@app.command()
def timeline(
    order_id: Annotated[str, typer.Argument(help="the order id (from OrderPlaced)")],
    bootstrap_servers: BootstrapOption = None,
    topic_prefix: PrefixOption = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text")] = False,
) -> None:
    """Every event of one order across all topics (dead letters included), in order."""
    servers = kafka_servers_for_tool(TOOL, bootstrap_servers)
    log = asyncio.run(read_log(servers, contract_topics(topic_prefix)))
    entries = build_timeline(order_id, log)
    if as_json:
        typer.echo(json.dumps([entry.as_json() for entry in entries], indent=2))
    else:
        typer.echo(render_text(order_id, entries))
    unreadable = sum(1 for record in log if record.unreadable is not None)
    if unreadable:
        typer.echo(
            f"note: {unreadable} record(s) on these topics are not events of the contract; "
            "they are shown above only if they name this order (orderflow-ops check lists them)",
            err=True,
        )
    if not entries:
        raise typer.Exit(1)


@app.command("check")
def check_system(
    bootstrap_servers: BootstrapOption = None,
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
    settle_seconds: Annotated[
        float,
        typer.Option(
            help="the settle window: how long a checkout may wait for its answer, and how "
            "recent a payment may be to be left out of the ledger check as still in flight"
        ),
    ] = 60.0,
    fulfillment_url: Annotated[
        str | None,
        typer.Option(
            help="fulfillment's HTTP API, for the stock check [default: http://127.0.0.1:"
            f"$FULFILLMENT_HTTP_PORT, else :{RUN_COMMAND_FULFILLMENT_PORT} as the run "
            "command starts it]"
        ),
    ] = None,
    service_checks: Annotated[
        bool, typer.Option(help="also check the payment ledger and the stock levels")
    ] = True,
) -> None:
    """Check the whole system's invariants; exit 1 on any violation."""
    servers = kafka_servers_for_tool(TOOL, bootstrap_servers)
    log = asyncio.run(read_log(servers, contract_topics(topic_prefix)))
    waiting = timedelta(minutes=wait_minutes)
    deadlines = Deadlines(
        payment_and_stock=waiting,
        capture=waiting,
        compensation=waiting,
        shipment=timedelta(minutes=ship_minutes),
        delivery=timedelta(minutes=delivery_minutes),
        checkout_answer=timedelta(seconds=settle_seconds),
    )
    report = check(log, now=datetime.now(UTC), deadlines=deadlines)
    typer.echo(render(report))
    failed = not report.ok
    checked = [f"{len(report.orders)} order(s) in the event log"]
    if service_checks:
        ledger = _payment_ledger_reconciles(settle_seconds)
        stock = _no_negative_stock(fulfillment_url or default_fulfillment_url())
        failed = not ledger.ok or not stock.ok or failed
        checked += [ledger.checked, stock.checked]
    typer.echo(f"\nchecked: {', '.join(checked)}")
    if failed:
        raise typer.Exit(1)


def default_fulfillment_url(environ: dict[str, str] | None = None) -> str:
    """Fulfillment as configured here: its HTTP port setting when one is set, else the port
    the run command gives it."""
    port = (os.environ if environ is None else environ).get("FULFILLMENT_HTTP_PORT", "")
    if not port.strip().isdigit() or int(port) == 0:  # 0 means "any free port": not findable
        return f"http://127.0.0.1:{RUN_COMMAND_FULFILLMENT_PORT}"
    return f"http://127.0.0.1:{int(port)}"


@dataclass(frozen=True)
class ServiceCheck:
    ok: bool
    checked: str  # what was actually checked, for the closing line


_ORDERS_RECONCILED = re.compile(r"(\d+) order\(s\) checked.*?(\d+) in flight")


def _payment_ledger_reconciles(settle_seconds: float) -> ServiceCheck:
    """The payment service's own reconciliation (it alone may read its schema)."""
    env = dict(os.environ)
    if "PAYMENT_DATABASE_URL" not in env:
        admin = env.get("DATABASE_URL") or LocalStack().postgres.settings.admin_database_url
        env["PAYMENT_DATABASE_URL"] = service_database_url(admin, "payment")
    typer.echo("\npayment ledger (orderflow-payment reconcile):")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "orderflow_payment", "reconcile"),
            *("--settle-s", str(settle_seconds)),
        ],
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    # Printed by this tool, so screened by it too, whatever the other command prints.
    typer.echo(redact_card_numbers(result.stdout.rstrip()))
    if result.stderr.strip():
        typer.echo(redact_card_numbers(result.stderr.rstrip()), err=True)
    return interpret_reconciliation(result.returncode, result.stdout, settle_seconds)


def interpret_reconciliation(returncode: int, output: str, settle_seconds: float) -> ServiceCheck:
    """What the reconciliation really checked: a RECONCILED over no order is not a check."""
    found = _ORDERS_RECONCILED.search(output)
    if returncode != 0:
        return ServiceCheck(False, "the payment ledger (MISMATCHES or not checked)")
    if found is None:
        return ServiceCheck(True, "the payment ledger (order count not reported)")
    orders, in_flight = int(found[1]), int(found[2])
    if orders == 0:
        typer.echo(
            f"  payment ledger: nothing to check: no order settled for {settle_seconds:g}s "
            f"({in_flight} in flight skipped)"
        )
    return ServiceCheck(True, f"{orders} order(s) in the payment ledger")


def _no_negative_stock(fulfillment_url: str) -> ServiceCheck:
    """Stock levels as fulfillment reports them: nothing negative, nothing over-reserved."""
    typer.echo(f"\nstock levels ({fulfillment_url}/stock):")
    try:
        levels = httpx.get(f"{fulfillment_url}/stock", timeout=10).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as error:
        typer.echo(f"  not checked: fulfillment is not reachable ({error})")
        return ServiceCheck(True, "stock levels NOT checked (fulfillment not reachable)")
    bad = [
        level
        for level in levels
        if level["on_hand"] < 0 or level["reserved"] < 0 or level["available"] < 0
    ]
    for level in bad:
        # Ids that came in on the warehouse topics: redacted like any record text.
        shown = f"{level['warehouse_id']} {level['sku']}: {level}"
        typer.echo(f"  NEGATIVE {redact_card_numbers(shown)}")
    typer.echo(f"  {len(levels)} stock levels, {len(bad)} negative")
    return ServiceCheck(not bad, f"{len(levels)} stock level(s)")
