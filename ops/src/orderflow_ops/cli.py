"""``orderflow-ops``: what ops engineers run against a live system."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from orderflow_ops.event_log import contract_topics, read_log
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
