"""``orderflow-ops``: what ops engineers run against a live system."""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from orderflow_ops.event_log import contract_topics, read_log
from orderflow_ops.invariants import Deadlines, check, render
from orderflow_ops.timeline import build_timeline, render_text

# Checks only a service can make, on its own data; each exits non-zero on a violation.
SERVICE_CHECKS: tuple[str, ...] = ()

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
    service_checks: Annotated[
        bool, typer.Option(help="also run each service's own check (ledger, stock)")
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
    for command in SERVICE_CHECKS if service_checks else ():
        typer.echo(f"\n$ {command}")
        result = subprocess.run(shlex.split(command), check=False)
        failed = failed or result.returncode != 0
    if failed:
        raise typer.Exit(1)
