"""``orderflow-bench run``: the end-to-end benchmark (``make bench``).

Measures the raw limits of Kafka and PostgreSQL, starts the four services as ``make run``
does, pushes orders through them as fast as a storefront can and then at a fixed rate, and
reports orders/s per stage, latency percentiles, CPU per order, peak memory and the share of
the raw limits the pipeline uses. The ops console runs too (``--no-console`` leaves it out):
its CPU per order and consumer lag are reported apart. Exits 1 unless every order completed
and the invariant check passed.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from orderflow_chassis.structured_logging import configure_logging
from orderflow_localinfra.discovery import Infrastructure, ensure_infrastructure
from orderflow_localinfra.dsn import redact
from orderflow_localinfra.layout import find_repository_root
from orderflow_localinfra.provisioning import DEFAULT_SERVICES, PROVISIONED_SERVICES
from rich.console import Console

from orderflow_ops.bench.report import document, print_report, write
from orderflow_ops.bench.resources import machine_description
from orderflow_ops.bench.runner import BenchConfig, run_benchmark
from orderflow_ops.bench.terminal import Progress

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
DEFAULTS = BenchConfig()


def run_and_report(
    infrastructure: Infrastructure,
    config: BenchConfig,
    output_dir: Path,
    console: Console,
    *,
    live: bool | None = None,
) -> dict[str, Any]:
    """One whole benchmark: measure, print the tables, write the JSON; returns the JSON."""
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    config = replace(config, log_dir=output_dir / "logs" / stamp)
    console.print(f"service logs: {config.log_dir}")
    with Progress(console, live=live) as progress:
        outcome = asyncio.run(run_benchmark(infrastructure, config, progress))
    doc = document(
        started_at=started,
        finished_at=datetime.now(UTC),
        config=config,
        infrastructure={
            "kafka": infrastructure.kafka_bootstrap_servers,
            "kafka_provenance": str(infrastructure.kafka_provenance),
            "postgres": redact(infrastructure.admin_database_url),
            "postgres_provenance": str(infrastructure.postgres_provenance),
        },
        outcome=outcome,
        machine=machine_description(),
    )
    written = write(doc, output_dir, stamp)
    print_report(doc, console, written)
    return doc


@app.callback()
def main() -> None:
    """The Orderflow end-to-end benchmark."""


@app.command()
def run(
    orders: Annotated[
        int, typer.Option(min=1, help="orders of the sustained phase, published at full speed")
    ] = DEFAULTS.orders,
    paced_orders: Annotated[
        int, typer.Option(min=1, help="at most this many orders in the paced phase")
    ] = DEFAULTS.paced_orders,
    paced_seconds: Annotated[
        float, typer.Option(min=1, help="the paced phase lasts about this long (or paced-orders)")
    ] = DEFAULTS.paced_seconds,
    rate: Annotated[
        float | None,
        typer.Option(min=0.1, help="paced orders/s [default: half the sustained throughput]"),
    ] = None,
    runs: Annotated[
        int, typer.Option(min=1, help="measured runs (sustained + paced); >1 reports ranges")
    ] = DEFAULTS.runs,
    raw_limits: Annotated[
        bool, typer.Option(help="measure the raw limits of Kafka and PostgreSQL first")
    ] = DEFAULTS.raw_limits,
    kafka_raw_records: Annotated[
        int, typer.Option(min=100, help="records of the aiokafka raw limit")
    ] = DEFAULTS.kafka_raw_records,
    java_raw_records: Annotated[
        int, typer.Option(min=100, help="records of the Java ProducerPerformance raw limit")
    ] = DEFAULTS.java_raw_records,
    postgres_raw_seconds: Annotated[
        float, typer.Option(min=0.5, help="seconds of each PostgreSQL raw limit")
    ] = DEFAULTS.postgres_raw_seconds,
    stall_timeout_s: Annotated[
        float, typer.Option(min=1, help="give up on stragglers after this long without progress")
    ] = DEFAULTS.stall_timeout_s,
    idle_seconds: Annotated[
        float, typer.Option(min=1, help="seconds of idle CPU measured before each run")
    ] = DEFAULTS.idle_seconds,
    warmup_orders: Annotated[
        int,
        typer.Option(min=0, help="orders at full speed before the first run, not measured"),
    ] = DEFAULTS.warmup_orders,
    seed: Annotated[int, typer.Option(help="the shoppers' random choices")] = DEFAULTS.seed,
    instances: Annotated[
        int, typer.Option(min=1, help="processes of each service, sharing its consumer groups")
    ] = DEFAULTS.instances,
    with_console: Annotated[
        bool,
        typer.Option("--console/--no-console", help="run the ops console too, as make run does"),
    ] = DEFAULTS.console,
    output_dir: Annotated[
        Path | None, typer.Option(help="where results go [default: <checkout>/.bench]")
    ] = None,
    outage_seconds: Annotated[
        float,
        typer.Option(min=0, help="after the other phases, SIGKILL a service this long (0: off)"),
    ] = DEFAULTS.outage_seconds,
    outage_rate: Annotated[
        float, typer.Option(min=0.1, help="orders/s published through the outage phase")
    ] = DEFAULTS.outage_rate,
    outage_service: Annotated[
        str, typer.Option(help=f"the service the outage phase stops: {', '.join(DEFAULT_SERVICES)}")
    ] = DEFAULTS.outage_service,
    outage_warmup_seconds: Annotated[
        float, typer.Option(min=1, help="paced load before the service is stopped")
    ] = DEFAULTS.outage_warmup_seconds,
    outage_tail_seconds: Annotated[
        float, typer.Option(min=1, help="paced load after the catch-up, for its latency")
    ] = DEFAULTS.outage_tail_seconds,
    outage_max_catch_up_seconds: Annotated[
        float, typer.Option(min=1, help="stop the load if not caught up this long after ready")
    ] = DEFAULTS.outage_max_catch_up_seconds,
    outage_only: Annotated[
        bool, typer.Option(help="only the outage phase: no idle, sustained or paced phase")
    ] = DEFAULTS.outage_only,
) -> None:
    """Run the benchmark once (with --runs K, K measured runs) and report."""
    config = BenchConfig(
        orders=orders,
        paced_orders=paced_orders,
        paced_seconds=paced_seconds,
        rate=rate,
        runs=runs,
        raw_limits=raw_limits,
        kafka_raw_records=kafka_raw_records,
        java_raw_records=java_raw_records,
        postgres_raw_seconds=postgres_raw_seconds,
        stall_timeout_s=stall_timeout_s,
        idle_seconds=idle_seconds,
        warmup_orders=warmup_orders,
        seed=seed,
        instances=instances,
        outage_seconds=outage_seconds,
        outage_rate=outage_rate,
        outage_service=outage_service,
        outage_warmup_seconds=outage_warmup_seconds,
        outage_tail_seconds=outage_tail_seconds,
        outage_max_catch_up_seconds=outage_max_catch_up_seconds,
        outage_only=outage_only,
        console=with_console,
    )
    if outage_service not in DEFAULT_SERVICES:
        raise typer.BadParameter(f"not a service: {outage_service}", param_hint="--outage-service")
    if outage_only and outage_seconds <= 0:
        raise typer.BadParameter("--outage-only needs --outage-seconds above 0")
    # Off a terminal (make bench > file, CI) rich would wrap at 80 columns: the tables are wider.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    root = output_dir or find_repository_root() / ".bench"
    _log_to_file(root / "bench.log")
    console.print("orderflow-bench: finding or starting Kafka and PostgreSQL ...")
    needed = PROVISIONED_SERVICES if with_console else DEFAULT_SERVICES
    infrastructure = ensure_infrastructure(services=needed, keep_local_running=True)
    console.print(
        f"  kafka    {infrastructure.kafka_bootstrap_servers} "
        f"({infrastructure.kafka_provenance})\n"
        f"  postgres {redact(infrastructure.admin_database_url)} "
        f"({infrastructure.postgres_provenance})"
    )
    try:
        doc = run_and_report(infrastructure, config, root, console)
    finally:
        infrastructure.stop()  # containers it started; local servers are left running
    raise typer.Exit(0 if doc["outcome"]["ok"] else 1)


def _log_to_file(path: Path) -> None:
    """This process's own logs (warehouse, producers, the chassis) go to a file: the terminal
    shows the progress and the results only. It stays open until the process exits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", encoding="utf-8")
    configure_logging("orderflow-bench", level="INFO", stream=stream)


if __name__ == "__main__":
    app()
