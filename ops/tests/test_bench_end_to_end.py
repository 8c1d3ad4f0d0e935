"""The benchmark end to end at a tiny size, on real Kafka and PostgreSQL with the four
services as processes: every order completes and the JSON says so. No figure is judged here
(a test never asserts a speed); this checks that the instrument works."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.bench.cli import run_and_report
from orderflow_ops.bench.runner import BenchConfig
from rich.console import Console

pytestmark = pytest.mark.integration

TINY = BenchConfig(
    orders=20,
    paced_orders=10,
    paced_seconds=2,
    rate=5.0,
    raw_limits=False,
    stall_timeout_s=30,
    idle_seconds=1,
    warmup_orders=5,
    label="test-bench",  # the topics of an interrupted run are cleaned up like a test's
)


def test_a_tiny_benchmark_completes_every_order_and_passes_the_check(
    orderflow_infrastructure: Infrastructure, tmp_path: Path
) -> None:
    screen = io.StringIO()

    doc = run_and_report(
        orderflow_infrastructure,
        TINY,
        tmp_path,
        Console(file=screen, width=160, color_system=None),
        live=False,
    )

    outcome = doc["outcome"]
    assert outcome["every_order_completed"], screen.getvalue()
    assert outcome["orders"] == 35  # the warm-up's too: they must complete like any other
    assert outcome["invariant_check"]["ok"], screen.getvalue()
    assert outcome["ok"]
    assert json.loads((tmp_path / "latest.json").read_text()) == doc
    run = doc["runs"][0]
    assert run["sustained"]["stages"]["completed"]["orders"] == 20
    assert run["paced"]["completed"] == 10
    assert set(run["paced"]["latency_ms"]) == {
        "placed",
        "captured",
        "fulfillment_requested",
        "completed",
    }
    assert {"cart", "payment", "fulfillment", "returns", "bench"} <= set(run["peak_rss_bytes"])
    assert run["idle"]["cores"]["machine"] is not None
    assert run["sustained"]["settle"]["quiet"]
    # The ops console ran beside them, as make run starts it, caught up and was measured.
    assert "console" in run["peak_rss_bytes"]
    for phase in ("sustained", "paced"):
        console = run[phase]["console"]
        assert console["caught_up"], console
        assert console["lag_at_end"] == 0
        assert console["cpu_s"] is not None
        assert console["cpu_s"] > 0
        assert console["share_of_pipeline_cpu"] is not None
    assert "console / (services + kafka + postgres)" in screen.getvalue()
    assert "Orderflow benchmark" in screen.getvalue()
