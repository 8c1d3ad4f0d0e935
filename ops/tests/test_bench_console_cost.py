"""The ops console's cost in a benchmark run: which groups are its, how it catches up, and its
CPU per order against the pipeline's (figures made up for the purpose; no speed is judged)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from orderflow_ops.bench import console_cost
from orderflow_ops.bench.console_cost import (
    catch_up,
    console_figures,
    console_group_prefix,
    console_lag,
    is_console_group,
    sessions_cpu_s,
)

PREFIX = console_group_prefix("bench-1.")
PIPELINE_S = {"cart": 4.0, "payment": 2.0, "fulfillment": 2.0, "returns": 1.0}


def test_the_console_groups_are_its_events_and_dead_letters_and_nothing_else() -> None:
    assert PREFIX == "bench-1.orderflow.console"
    assert is_console_group("bench-1.orderflow.console", PREFIX)
    assert is_console_group("bench-1.orderflow.console.dead-letters", PREFIX)
    assert not is_console_group("bench-1.orderflow.consoles", PREFIX)
    assert not is_console_group("bench-1.orderflow.cart", PREFIX)
    assert not is_console_group("bench-1.orderflow.console", None)  # no console in the run
    lag = {"bench-1.orderflow.console": 5, PREFIX + ".dead-letters": 2, "bench-1.orderflow.cart": 9}
    assert console_lag(lag, PREFIX) == 7


def test_its_share_is_its_cpu_over_the_services_kafka_and_postgres() -> None:
    found = console_figures(
        {"lag_when_pipeline_quiet": 3, "lag_at_end": 0},
        console_cpu_s=1.2,
        pipeline_cpu_s={**PIPELINE_S, "kafka": 1.0, "postgres": 2.0, "bench": 50.0, "other": 9.0},
        orders=100,
    )

    assert found["ms_per_order"] == pytest.approx(12.0)
    assert found["pipeline_cpu_s"] == pytest.approx(12.0)  # bench and other left out
    assert found["share_of_pipeline_cpu"] == pytest.approx(0.1)
    assert found["lag_when_pipeline_quiet"] == 3


def test_no_share_when_a_component_was_not_measured() -> None:
    found = console_figures({}, 1.0, {**PIPELINE_S, "kafka": None, "postgres": 1.0}, orders=10)

    assert found["share_of_pipeline_cpu"] is None
    assert found["ms_per_order"] == pytest.approx(100.0)
    assert console_figures({}, None, {}, orders=10)["ms_per_order"] is None


def test_catching_up_waits_until_the_console_has_no_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_cost, "CATCH_UP_POLL_S", 0.0)
    readings = iter([40, 12, 0])

    async def read_lag() -> Mapping[str, int]:
        return {PREFIX: next(readings), "bench-1.orderflow.cart": 99}

    found = asyncio.run(catch_up(read_lag, PREFIX, timeout_s=60))

    assert found["lag_when_pipeline_quiet"] == 40
    assert found["lag_at_end"] == 0
    assert found["caught_up"] is True
    assert found["seconds_to_catch_up"] is not None


def test_a_console_that_does_not_catch_up_in_time_says_so() -> None:
    async def read_lag() -> Mapping[str, int]:
        return {PREFIX: 8}

    found = asyncio.run(catch_up(read_lag, PREFIX, timeout_s=0))

    assert found == {
        "lag_when_pipeline_quiet": 8,
        "lag_at_end": 8,
        "caught_up": False,
        "seconds_to_catch_up": None,
    }


def test_its_postgres_sessions_are_its_cost_not_the_pipelines() -> None:
    found = console_figures(
        {},
        console_cpu_s=1.0,
        pipeline_cpu_s={**PIPELINE_S, "kafka": 1.0, "postgres": 4.0},
        orders=100,
        sessions_cpu_s=1.0,
    )

    assert found["pipeline_cpu_s"] == pytest.approx(13.0)  # 14 less the console's sessions
    assert found["postgres_sessions_ms_per_order"] == pytest.approx(10.0)
    assert found["total_ms_per_order"] == pytest.approx(20.0)
    assert found["share_of_pipeline_cpu"] == pytest.approx(1 / 13)
    assert found["total_share_of_pipeline_cpu"] == pytest.approx(2 / 13)


def test_session_cpu_counts_each_backend_from_the_first_reading_or_its_start() -> None:
    before = {101: 500, 102: 40}
    after = {101: 650, 102: 40, 103: 25}  # 103 opened meanwhile; a gone one is not seen

    assert sessions_cpu_s(before, after, ticks_per_s=100) == pytest.approx(1.75)
    assert sessions_cpu_s(before, {}, ticks_per_s=100) is None
