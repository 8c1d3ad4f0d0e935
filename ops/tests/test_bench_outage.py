"""The benchmark's outage phase without Kafka: catch-up detection from stage times, the
capacity verdict, the report's rows and the command's options."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from orderflow_ops.bench import cli
from orderflow_ops.bench.catch_up import Journey, catch_up, checked_out_after, journeys
from orderflow_ops.bench.observer import StageBook
from orderflow_ops.bench.outage import _observed_until
from orderflow_ops.bench.outage_report import capacity_verdict
from orderflow_ops.bench.report import document, print_report
from orderflow_ops.bench.runner import BenchConfig, BenchOutcome
from rich.console import Console
from typer.testing import CliRunner

# Warm-up: one order at a time in flight. Outage 200-1000 ms: four orders pile up. Ready at
# 1000: the backlog drains at 100 ms an order, new orders keep coming.
OUTAGE_JOURNEYS = [
    Journey(0, 50),
    Journey(100, 150),
    Journey(200, 1100),
    Journey(400, 1200),
    Journey(600, 1300),
    Journey(800, 1400),
    Journey(1000, 1500),
    Journey(1200, 1600),
    Journey(1400, 1450),
    Journey(1600, 1700),  # the load goes on after the catch-up
]


def test_the_pipeline_caught_up_when_no_more_orders_are_in_flight_than_before_the_outage() -> None:
    result = catch_up(OUTAGE_JOURNEYS, warmup_from_ms=0, outage_from_ms=200, ready_ms=1000)

    assert result.baseline_in_flight == 1
    # In flight at 1000: seven checked out, two through.
    assert result.backlog_at_ready == 5
    # 1100: 4, 1200: 4 (one more checked out), 1300: 3, 1400: 3, 1450: 2, 1500: 1.
    assert result.caught_up_ms == 1500
    assert result.catch_up_s == pytest.approx(0.5)
    assert result.backlog_drained_s == pytest.approx(0.5)  # the order of 1000, through at 1500
    assert result.drain_orders_per_s == pytest.approx(6 / 0.5)


def test_the_baseline_is_the_most_in_flight_during_the_warm_up() -> None:
    warm = [Journey(0, 500), Journey(100, 600), Journey(200, 700), Journey(300, 350)]
    backlog = [Journey(1000, 3000), Journey(1100, 3100), Journey(1200, 3200)]

    result = catch_up(warm + backlog, warmup_from_ms=0, outage_from_ms=800, ready_ms=2000)

    assert result.baseline_in_flight == 4  # at 300 ms: four in flight
    assert result.backlog_at_ready == 3
    assert result.caught_up_ms == 2000  # no more than before: nothing to catch up
    assert result.catch_up_s == 0
    assert result.backlog_drained_s == pytest.approx(1.2)


def test_a_pipeline_that_never_drains_its_backlog_has_not_caught_up() -> None:
    piling = [Journey(0, 50), *(Journey(ms, None) for ms in range(200, 3000, 100))]
    piling.append(Journey(150, 2000))

    result = catch_up(piling, warmup_from_ms=0, outage_from_ms=200, ready_ms=1000)

    assert result.caught_up_ms is None
    assert result.catch_up_s is None
    assert result.backlog_drained_s is None
    assert result.drain_orders_per_s == pytest.approx(1.0)  # one order through in 1 s


def test_journeys_and_the_orders_after_the_catch_up_come_from_the_stage_book() -> None:
    book = StageBook()
    book.checkout_ms.update({"cart-a": 100, "cart-b": 200, "cart-c": 300})
    book.order_of_cart.update({"cart-a": "order-a", "cart-b": "order-b"})
    book.stage_ms.update(
        {"order-a": {"placed": 150, "fulfillment_requested": 400}, "order-b": {"placed": 250}}
    )

    found = journeys(book, ["cart-a", "cart-b", "cart-c", "cart-never-seen"])

    assert found == [Journey(100, 400), Journey(200, None), Journey(300, None)]
    assert checked_out_after(book, ["cart-a", "cart-b", "cart-c", "x"], 200) == [
        "cart-b",
        "cart-c",
    ]


def test_a_rate_the_machine_sustains_makes_the_catch_up_meaningful() -> None:
    verdict = capacity_verdict(target=10, achieved=9.8, sustained=38.0, caught_up=True, drain=35)

    assert verdict["sustainable"] is True
    assert verdict["text"] == "sustained 10 orders/s: the catch-up time is meaningful"


def test_a_rate_beyond_the_machine_is_said_plainly_with_a_rate_to_rerun_at() -> None:
    verdict = capacity_verdict(target=50, achieved=41.0, sustained=38.0, caught_up=False, drain=36)

    assert verdict["sustainable"] is False
    assert verdict["reasons"] == [
        "the load generator published 41.0 orders/s of the 50 asked",
        "the pipeline's full speed measured in this run is 38.0 orders/s, not above the 50 asked",
        "the pipeline never got back to its pre-outage backlog (it got 36.0 orders/s through "
        "after restart)",
    ]
    assert verdict["text"].startswith("NOT SUSTAINABLE at 50 orders/s on this machine: ")
    assert verdict["text"].endswith("rerun with --outage-rate below 36")


def outage_figures(catch_up_s: float | None) -> dict[str, Any]:
    return {
        "service": "payment",
        "signal": "SIGKILL",
        "target_orders_per_s": 10.0,
        "checkouts_per_s": 9.9,
        "outage_s": 20.2,
        "backlog_orders_at_ready": 203,
        "catch_up_s": catch_up_s,
        "after_catch_up": {"orders": 150, "p50": 210.0, "p99": 870.0},
        "verdict": capacity_verdict(
            target=10, achieved=9.9, sustained=30.0, caught_up=catch_up_s is not None, drain=25
        ),
    }


def make_document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    result = BenchOutcome(runs=runs, orders=10, completed=10, check={"ok": True})
    return document(
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        finished_at=datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC),
        config=BenchConfig(outage_seconds=20, outage_rate=10, runs=2),
        infrastructure={"kafka": "127.0.0.1:19092"},
        outcome=result,
        machine={"cpus": 2},
    )


def test_the_report_shows_the_outage_section_and_its_verdict() -> None:
    doc = make_document([{"outage": outage_figures(7.5)}, {"outage": outage_figures(None)}])
    screen = io.StringIO()

    print_report(doc, Console(file=screen, width=200, color_system=None), None)

    text = screen.getvalue()
    assert "Outage: a service SIGKILLed under paced load, then restarted" in text
    assert "catch-up s (ready to baseline)" in text
    assert "7.5 to 7.5" in text  # the run that never caught up has no catch-up time
    assert "after catch-up: fulfillment p99 ms" in text
    assert doc["ranges"]["outage.backlog_orders_at_ready"]["runs"] == [203.0, 203.0]
    assert "run 1 outage: payment SIGKILL for 20s at 10 orders/s: sustained 10" in text
    assert "run 2 outage: payment SIGKILL for 20s at 10 orders/s: NOT SUSTAINABLE" in text
    assert "Sustained" not in text  # no run had that phase (--outage-only): no empty section


def test_without_an_outage_the_report_has_no_outage_section() -> None:
    screen = io.StringIO()

    doc = make_document([{"paced": {"target_orders_per_s": 5.0}}])

    print_report(doc, Console(file=screen, width=200), None)

    assert "target orders/s" in screen.getvalue()
    assert "Outage" not in screen.getvalue()
    assert "outage.catch_up_s" not in doc["ranges"]


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> list[BenchConfig]:
    """The command's configuration, with no infrastructure found and no benchmark run."""
    seen: list[BenchConfig] = []

    def run_and_report(_infra: object, config: BenchConfig, *_: object) -> dict[str, Any]:
        seen.append(config)
        return {"outcome": {"ok": True}}

    infrastructure = SimpleNamespace(
        kafka_bootstrap_servers="127.0.0.1:1",
        kafka_provenance="test",
        admin_database_url="postgresql://u:p@127.0.0.1:1/d",
        postgres_provenance="test",
        stop=lambda: None,
    )
    monkeypatch.setattr(cli, "ensure_infrastructure", lambda **_: infrastructure)
    monkeypatch.setattr(cli, "run_and_report", run_and_report)
    monkeypatch.setattr(cli, "_log_to_file", lambda _path: None)
    return seen


def test_the_outage_options_reach_the_configuration(
    configs: list[BenchConfig], tmp_path: Path
) -> None:
    arguments = ["run", "--output-dir", str(tmp_path), "--outage-seconds", "60"]
    arguments += ["--outage-rate", "20", "--outage-service", "payment", "--outage-only"]
    arguments += ["--outage-warmup-seconds", "5", "--outage-tail-seconds", "8"]

    result = CliRunner().invoke(cli.app, arguments)

    assert result.exit_code == 0, result.output
    plan = configs[0].outage_plan()
    assert plan is not None
    assert (plan.service, plan.seconds, plan.rate) == ("payment", 60, 20)
    assert (plan.warmup_s, plan.tail_s, plan.max_catch_up_s) == (5, 8, 300)
    assert configs[0].outage_only is True


def test_the_outage_phase_is_off_unless_asked(configs: list[BenchConfig], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["run", "--output-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert configs[0].outage_plan() is None
    assert configs[0].outage_orders() == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--outage-seconds", "10", "--outage-service", "billing"], "not a service: billing"),
        (["--outage-only"], "--outage-only needs --outage-seconds above 0"),
        (["--outage-seconds", "-1"], "outage-seconds"),
    ],
)
def test_bad_outage_options_are_refused(
    configs: list[BenchConfig], tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli.app, ["run", "--output-dir", str(tmp_path), *arguments])

    assert result.exit_code == 2
    assert message in result.output
    assert configs == []


def test_a_catch_up_counts_only_once_the_observer_read_every_order_published_before_it() -> None:
    carts, published_ms = ["cart-a", "cart-b", "cart-c"], [1000, 2000, 5000]

    # cart-b, published before the candidate catch-up, is not in the book yet: the in-flight
    # count would look lower than it is.
    assert not _observed_until({"cart-a": 1001}, carts, published_ms, 1500)
    # cart-c is published later than the margin after the candidate: it may be unread.
    assert _observed_until({"cart-a": 1001, "cart-b": 2001}, carts, published_ms, 1500)


def test_a_backlog_that_only_drains_once_the_load_stopped_has_not_caught_up() -> None:
    # The load's last checkout is at 1400; the in-flight count falls to the baseline only
    # afterwards, when nothing new comes in: that is the load ending, not a catch-up.
    slow = [Journey(0, 50), *(Journey(ms, ms + 2000) for ms in range(200, 1500, 200))]

    result = catch_up(slow, warmup_from_ms=0, outage_from_ms=100, ready_ms=1000)

    assert result.caught_up_ms is None
    assert result.catch_up_s is None
    assert result.backlog_drained_s == pytest.approx(2.0)  # the order of 1000, through at 3000
