"""The benchmark's results: one JSON document (to compare runs) and the tables on the terminal.

The JSON's figures are under ``runs`` (one entry per measured run) and, for the headline
figures, under ``ranges`` as min, max and each run's value. Times are ms, rates per second,
memory bytes, CPU seconds or ms per completed order.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orderflow_ops.bench.figures import ranges, value_at
from orderflow_ops.bench.observer import STAGES
from orderflow_ops.bench.outage_report import OUTAGE_ROWS, OUTAGE_SECTION, outage_lines

SCHEMA_VERSION = 1
TIMESTAMPS = (
    "Kafka record timestamps (CreateTime, set by the producing client: the storefront for "
    "CheckoutRequested, each service's outbox relay for its events)"
)
COMPONENTS = ("cart", "payment", "fulfillment", "returns", "kafka", "postgres", "bench")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    label: str
    path: tuple[str, ...]
    unit: str = ""  # "%" shows a share as a percentage; "MiB" shows bytes as MiB

    def cell(self, run: Mapping[str, Any]) -> str:
        return self.show(value_at(run, self.path))

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "%":
            return f"{value * 100:.2f} %"
        if self.unit == "MiB":
            return f"{value / MIB:,.0f}"
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def result_rows(
    raw_limit_names: Sequence[str], *, outage: bool = False
) -> list[tuple[str, list[Row]]]:
    """The sections of the results table, each a list of rows; the same rows get ranges.
    ``outage``: with the outage phase's section."""
    stage_names = [stage for stage, _ in STAGES]
    sustained = [
        Row(f"{stage.replace('_', ' ')} orders/s", ("sustained", "stages", stage, "orders_per_s"))
        for stage in stage_names
    ]
    sustained += [
        Row("checkouts published/s", ("sustained", "checkouts_per_s")),
        Row("duration s", ("sustained", "duration_s")),
        Row("quiet after last order s", ("sustained", "settle", "seconds_after_last_order")),
        Row("pipeline events/s", ("sustained", "pipeline_events_per_s")),
    ]
    sustained += [
        Row(f"share of raw limit: {name}", ("sustained", "share_of_raw_limit", name), "%")
        for name in raw_limit_names
    ]
    cpu = [Row("machine", ("sustained", "cpu", "ms_per_order", "machine"))]
    cpu += [
        Row(name, ("sustained", "cpu", "ms_per_order", name)) for name in (*COMPONENTS, "other")
    ]
    cpu.append(Row("machine busy", ("sustained", "cpu", "machine_busy_share"), "%"))
    cpu.append(Row("idle: machine cores busy (no orders)", ("idle", "cores", "machine")))
    cpu += console_rows("sustained")
    paced = [
        Row("target orders/s", ("paced", "target_orders_per_s")),
        Row("checkouts published/s", ("paced", "checkouts_per_s")),
    ]
    for stage in stage_names:
        paced += [
            Row(f"{stage.replace('_', ' ')} p{p} ms", ("paced", "latency_ms", stage, f"p{p}"))
            for p in (50, 95, 99)
        ]
    paced.append(Row("CPU ms/order, machine", ("paced", "cpu", "ms_per_order", "machine")))
    paced += console_rows("paced")
    memory = [
        Row(name, ("peak_rss_bytes", name), "MiB")
        for name in ("cart", "payment", "fulfillment", "returns", "kafka", "console", "bench")
    ]
    sections = [
        ("Sustained (as fast as the storefront publishes)", sustained),
        ("CPU ms per completed order (sustained)", cpu),
        ("Latency from CheckoutRequested (paced)", paced),
        ("Peak RSS MiB", memory),
    ]
    if outage:
        sections.insert(3, (OUTAGE_SECTION, [Row(*spec) for spec in OUTAGE_ROWS]))
    return sections


def has_outage(runs: Sequence[Mapping[str, Any]]) -> bool:
    return any("outage" in run for run in runs)


def console_rows(phase: str) -> list[Row]:
    """The ops console's cost (see :mod:`orderflow_ops.bench.console_cost`); "-" without it."""
    return [
        Row("console ms/order (until it caught up)", (phase, "console", "ms_per_order")),
        Row(
            "console's postgres sessions ms/order",
            (phase, "console", "postgres_sessions_ms_per_order"),
        ),
        Row(
            "console / (services + kafka + postgres)",
            (phase, "console", "share_of_pipeline_cpu"),
            "%",
        ),
        Row(
            "console + its sessions / (services + kafka + postgres)",
            (phase, "console", "total_share_of_pipeline_cpu"),
            "%",
        ),
        Row(
            "console lag when the pipeline was quiet", (phase, "console", "lag_when_pipeline_quiet")
        ),
        Row("console lag at the end", (phase, "console", "lag_at_end")),
    ]


def measured_limit_names(raw_limits: Mapping[str, Any]) -> list[str]:
    return [name for name, f in raw_limits.items() if isinstance(f, Mapping) and "per_second" in f]


def document(
    *,
    started_at: datetime,
    finished_at: datetime,
    config: Any,
    infrastructure: Mapping[str, str],
    outcome: Any,
    machine: Mapping[str, Any],
) -> dict[str, Any]:
    sections = result_rows(
        measured_limit_names(outcome.raw_limits), outage=has_outage(outcome.runs)
    )
    rows = [row for _, section in sections for row in section]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "orderflow-bench",
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "git": git_state(),
        "machine": dict(machine),
        "infrastructure": dict(infrastructure),
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "timestamps": TIMESTAMPS,
        "raw_limits": outcome.raw_limits,
        "runs": outcome.runs,
        "ranges": ranges(outcome.runs, [row.path for row in rows]),
        "outcome": {
            "ok": outcome.ok,
            "orders": outcome.orders,
            "completed": outcome.completed,
            "every_order_completed": outcome.orders == outcome.completed,
            "problems": outcome.problems,
            "invariant_check": outcome.check,
            "database_deadlocks": outcome.deadlocks,
        },
    }


def git_state() -> dict[str, Any]:
    def git(*arguments: str) -> str:
        result = subprocess.run(
            ["git", *arguments], capture_output=True, text=True, check=False, timeout=10
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def write(doc: Mapping[str, Any], output_dir: Path, stamp: str) -> Path:
    """results-<stamp>.json, and latest.json beside it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    path = output_dir / f"results-{stamp}.json"
    path.write_text(text)
    (output_dir / "latest.json").write_text(text)
    return path


def raw_limits_table(raw_limits: Mapping[str, Any]) -> Table:
    table = Table(title="Raw limits", title_justify="left")
    table.add_column("limit")
    table.add_column("per second", justify="right")
    table.add_column("what")
    for name, figures in raw_limits.items():
        if "per_second" in figures:
            table.add_row(name, f"{figures['per_second']:,.0f}", figures["how"])
        else:
            table.add_row(name, "-", f"not measured: {figures['unavailable']}")
    return table


def results_table(doc: Mapping[str, Any]) -> Table:
    runs: list[Mapping[str, Any]] = doc["runs"]
    table = Table(title="Orderflow benchmark", title_justify="left")
    table.add_column("figure")
    for number in range(1, len(runs) + 1):
        table.add_column(f"run {number}", justify="right")
    if len(runs) > 1:
        table.add_column("range", justify="right")
    sections = result_rows(measured_limit_names(doc["raw_limits"]), outage=has_outage(runs))
    for title, rows in sections:
        if not any(value_at(run, row.path) is not None for row in rows for run in runs):
            continue  # a phase no run had (--outage-only)
        table.add_section()
        table.add_row(f"[bold]{title}[/bold]")
        for row in rows:
            cells = [row.cell(run) for run in runs]
            if len(runs) > 1:
                spread = doc["ranges"].get(".".join(row.path), {})
                cells.append(f"{row.show(spread.get('min'))} to {row.show(spread.get('max'))}")
            table.add_row(f"  {row.label}", *cells)
    return table


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


def print_report(doc: Mapping[str, Any], console: Console, written: Path | None) -> None:
    if doc["raw_limits"]:
        console.print(raw_limits_table(doc["raw_limits"]))
    if doc["runs"]:
        console.print(results_table(doc))
    outcome = doc["outcome"]
    console.print(
        f"orders: {outcome['orders']:,} published, {outcome['completed']:,} completed; "
        f"invariant check: {'passed' if outcome['invariant_check'].get('ok') else 'FAILED'}; "
        f"instances per service: {doc['config'].get('instances', 1)}; "
        f"deadlocks in the run's database: {_shown(outcome.get('database_deadlocks'))}"
    )
    for line in outage_lines(doc["runs"]):
        console.print(line, markup=False)
    for problem in outcome["problems"]:
        console.print(f"[red]PROBLEM[/red] {problem}")
    if not outcome["invariant_check"].get("ok"):
        for line in outcome["invariant_check"].get("output_tail", []):
            console.print(f"  {line}", markup=False)
    if written is not None:
        console.print(f"figures written to {written} (and latest.json beside it)")
