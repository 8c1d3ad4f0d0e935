"""The benchmark's figures: percentiles, stage rates and latencies, ranges over runs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from orderflow_ops.bench.figures import (
    percentile,
    ranges,
    stage_latencies_ms,
    stage_rates,
    sustained_figures,
)
from orderflow_ops.bench.observer import StageBook
from orderflow_ops.bench.phases import paced_order_count
from orderflow_ops.bench.raw_limits import parse_perf_tool_output
from orderflow_ops.bench.resources import CpuUsage


def test_percentiles_interpolate_between_the_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of the input does not matter


def test_a_percentile_of_nothing_or_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between"):
        percentile([1.0], 101)


def record(book: StageBook, topic: str, at_ms: int, event_type: str, **data: object) -> None:
    envelope = {"event_id": str(uuid.uuid4()), "event_type": event_type, "data": data}
    book.record(topic, at_ms, json.dumps(envelope).encode())


def book_of(orders: int, *, every_ms: int, takes_ms: int) -> tuple[StageBook, list[str]]:
    """Orders checked out every ``every_ms``, each completing ``takes_ms`` later (placed,
    captured and requested evenly in between)."""
    book = StageBook()
    carts = []
    for n in range(orders):
        cart, order, start = f"cart-{n}", f"order-{n}", 10_000 + n * every_ms
        carts.append(cart)
        record(book, "storefront.carts", start, "CheckoutRequested", cart_id=cart)
        step = takes_ms // 4
        record(book, "orders", start + step, "OrderPlaced", cart_id=cart, order_id=order)
        record(book, "payments", start + 2 * step, "PaymentCaptured", order_id=order)
        record(book, "fulfillment", start + 3 * step, "FulfillmentRequested", order_id=order)
        record(book, "orders", start + takes_ms, "OrderCompleted", order_id=order)
    return book, carts


def test_stage_rates_run_from_the_first_checkout_to_the_last_order_reaching_the_stage() -> None:
    book, carts = book_of(11, every_ms=100, takes_ms=1000)  # checkouts over 1 s

    rates = stage_rates(book, carts)

    assert rates["first_checkout_ms"] == 10_000
    assert rates["checkouts_per_s"] == pytest.approx(11 / 1.0)
    completed = rates["stages"]["completed"]
    assert completed["orders"] == 11
    assert completed["last_ms"] == 12_000
    assert completed["orders_per_s"] == pytest.approx(11 / 2.0)
    assert rates["stages"]["placed"]["orders_per_s"] == pytest.approx(11 / 1.25)


def test_latencies_are_measured_from_each_orders_checkout() -> None:
    book, carts = book_of(5, every_ms=1000, takes_ms=400)

    latencies = stage_latencies_ms(book, carts)

    assert latencies["completed"] == {"p50": 400, "p95": 400, "p99": 400, "max": 400, "orders": 5}
    assert latencies["placed"]["p99"] == 100


def test_stages_no_order_reached_have_no_latency_and_no_rate() -> None:
    book = StageBook()
    record(book, "storefront.carts", 5, "CheckoutRequested", cart_id="c")

    assert stage_latencies_ms(book, ["c"]) == {}
    assert stage_rates(book, ["c"])["stages"]["completed"] == {
        "orders": 0,
        "last_ms": None,
        "orders_per_s": None,
    }


def test_sustained_figures_relate_pipeline_events_to_the_raw_limits() -> None:
    book, carts = book_of(11, every_ms=100, takes_ms=1000)  # 55 records over 2 s
    usage = CpuUsage(machine_s=1.1, machine_capacity_s=4.0, components_s={"payment": 0.55})

    figures = sustained_figures(
        book, carts, usage, {"kafka_java": 55.0, "postgres_1_connection": 0.0}, publish_wall_s=0.5
    )

    assert figures["duration_s"] == pytest.approx(2.0)
    assert figures["throughput_orders_per_s"] == pytest.approx(5.5)
    assert figures["pipeline_events"] == 55
    assert figures["pipeline_events_per_s"] == pytest.approx(27.5)
    assert figures["share_of_raw_limit"] == {
        "kafka_java": pytest.approx(0.5),
        "postgres_1_connection": None,
    }
    assert figures["cpu"]["ms_per_order"]["machine"] == pytest.approx(100.0)
    assert figures["cpu"]["ms_per_order"]["payment"] == pytest.approx(50.0)
    assert figures["cpu"]["machine_busy_share"] == pytest.approx(0.275)


def test_ranges_over_runs_leave_out_figures_a_run_lacks() -> None:
    runs: list[dict[str, Any]] = [{"a": {"b": 3.0}}, {"a": {"b": 1}}, {"a": {}}]

    assert ranges(runs, [("a", "b"), ("x",)]) == {
        "a.b": {"min": 1.0, "max": 3.0, "runs": [3.0, 1.0, None]},
        "x": {"min": None, "max": None, "runs": [None, None, None]},
    }


def test_the_paced_phase_lasts_the_given_seconds_up_to_a_number_of_orders() -> None:
    assert paced_order_count(9.0, max_orders=1500, seconds=30) == 270
    assert paced_order_count(100.0, max_orders=1500, seconds=30) == 1500
    assert paced_order_count(0.01, max_orders=1500, seconds=30) == 1


def test_the_kafka_perf_tools_closing_line_is_read() -> None:
    output = (
        "152014 records sent, 30396.7 records/sec (29.68 MB/sec), 610.2 ms avg latency.\n"
        "200000 records sent, 30911.9 records/sec (30.19 MB/sec), 590.51 ms avg latency, "
        "1022.00 ms max latency, 571 ms 50th, 905 ms 95th, 990 ms 99th, 1015 ms 99.9th.\n"
    )

    assert parse_perf_tool_output(output) == (200000, 30911.9)
    assert parse_perf_tool_output("Exception in thread main") is None
