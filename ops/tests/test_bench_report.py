"""The benchmark's JSON document and tables, from figures made up for the purpose."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderflow_ops.bench.report import document, print_report, write
from orderflow_ops.bench.runner import BenchConfig, BenchOutcome
from rich.console import Console

RAW_LIMITS = {
    "kafka_aiokafka": {"per_second": 9000.0, "count": 30000, "seconds": 3.3, "how": "aiokafka"},
    "kafka_java": {"unavailable": "not installed"},
    "postgres_1_connection": {"per_second": 14000.0, "count": 70000, "seconds": 5, "how": "pg"},
}


def run_figures(throughput: float) -> dict[str, Any]:
    stages = {
        stage: {"orders": 100, "last_ms": 5_000, "orders_per_s": throughput}
        for stage in ("placed", "captured", "fulfillment_requested", "completed")
    }
    return {
        "sustained": {
            "orders": 100,
            "throughput_orders_per_s": throughput,
            "stages": stages,
            "checkouts_per_s": 400.0,
            "duration_s": 100 / throughput,
            "pipeline_events_per_s": throughput * 14,
            "share_of_raw_limit": {"kafka_aiokafka": throughput * 14 / 9000},
            "cpu": {"ms_per_order": {"machine": 80.0, "payment": 20.0}, "machine_busy_share": 0.7},
            "console": {"ms_per_order": 4.0, "share_of_pipeline_cpu": 0.05, "lag_at_end": 0},
        },
        "paced": {
            "target_orders_per_s": throughput / 2,
            "latency_ms": {"completed": {"p50": 360.0, "p95": 1200.0, "p99": 1900.0}},
            "cpu": {"ms_per_order": {"machine": 70.0}},
        },
        "peak_rss_bytes": {"cart": 150 * 1024 * 1024},
    }


def outcome(*, completed: int = 200, check_ok: bool = True) -> BenchOutcome:
    return BenchOutcome(
        raw_limits=RAW_LIMITS,
        runs=[run_figures(18.0), run_figures(20.0)],
        orders=200,
        completed=completed,
        check={"ok": check_ok, "exit_code": 0 if check_ok else 1, "output_tail": ["VIOLATIONS: 1"]},
        topic_prefix="bench-1.",
        deadlocks=0,
    )


def make_document(result: BenchOutcome) -> dict[str, Any]:
    return document(
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        finished_at=datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC),
        config=BenchConfig(orders=100, runs=2),
        infrastructure={"kafka": "127.0.0.1:19092", "kafka_provenance": "local"},
        outcome=result,
        machine={"cpus": 2},
    )


def test_the_document_holds_every_run_ranges_and_the_outcome() -> None:
    doc = make_document(outcome())

    assert doc["schema_version"] == 1
    assert doc["config"]["orders"] == 100
    assert doc["config"]["log_dir"] == ".bench/logs"  # paths as text: the document is JSON
    assert len(doc["runs"]) == 2
    assert doc["ranges"]["sustained.stages.completed.orders_per_s"] == {
        "min": 18.0,
        "max": 20.0,
        "runs": [18.0, 20.0],
    }
    assert doc["ranges"]["paced.latency_ms.completed.p99"]["max"] == 1900.0
    assert "sustained.share_of_raw_limit.kafka_java" not in doc["ranges"]  # not measured
    assert doc["outcome"] == {
        "ok": True,
        "orders": 200,
        "completed": 200,
        "every_order_completed": True,
        "problems": [],
        "invariant_check": outcome().check,
        "database_deadlocks": 0,
    }
    assert "CreateTime" in doc["timestamps"]
    json.dumps(doc)  # nothing in it that JSON cannot hold


def test_an_incomplete_run_or_a_failed_check_is_not_ok() -> None:
    assert make_document(outcome(completed=199))["outcome"]["ok"] is False
    assert make_document(outcome(check_ok=False))["outcome"]["ok"] is False


def test_results_are_written_with_a_timestamp_and_as_latest(tmp_path: Path) -> None:
    doc = make_document(outcome())

    written = write(doc, tmp_path / ".bench", "20260102T030405Z")

    assert written == tmp_path / ".bench" / "results-20260102T030405Z.json"
    assert json.loads(written.read_text()) == doc
    assert json.loads((tmp_path / ".bench" / "latest.json").read_text()) == doc


def test_the_tables_show_each_run_and_the_range() -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=160, color_system=None)

    print_report(make_document(outcome(check_ok=False)), console, Path("x.json"))

    text = screen.getvalue()
    assert "not measured: not installed" in text
    assert "completed orders/s" in text
    assert "18.0 to 20.0" in text
    assert "invariant check: FAILED" in text
    assert "VIOLATIONS: 1" in text
    assert "console / (services + kafka + postgres)" in text
    assert "5.00 %" in text  # the console's share of the pipeline's CPU


def test_the_console_figures_have_ranges_and_show_as_absent_without_it() -> None:
    doc = make_document(outcome())

    assert doc["ranges"]["sustained.console.share_of_pipeline_cpu"]["runs"] == [0.05, 0.05]
    assert doc["ranges"]["paced.console.ms_per_order"]["runs"] == [None, None]  # run without it
