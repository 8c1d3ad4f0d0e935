"""A benchmark that fails never leaves a service running, even when a cleanup step fails too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from orderflow_ops.bench import runner
from orderflow_ops.bench.phases import BenchFailed
from orderflow_ops.bench.runner import BenchConfig, BenchOutcome
from orderflow_ops.system import ServiceFailedToStart


class FakeService:
    def __init__(self, name: str, port: int, log: Path) -> None:
        self.name, self.stopped = name, False
        started.append(self)

    def start(self, infrastructure: Any, extra_env: dict[str, str]) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def log_tail(self, lines: int) -> str:
        return "(log)"

    def exit_code(self) -> int:
        return 1


started: list[FakeService] = []


class KafkaClientOfAGoneBroker:
    """Its stop raises, as aiokafka's did when the broker had gone away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def stop(self) -> None:
        raise asyncio.CancelledError


def never_ready(services: list[FakeService]) -> None:
    raise ServiceFailedToStart(services[1])  # type: ignore[arg-type]


async def test_the_services_are_stopped_even_when_stopping_a_kafka_client_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started.clear()
    monkeypatch.setattr(runner, "ServiceProcess", FakeService)
    monkeypatch.setattr(runner, "wait_until_ready", never_ready)
    monkeypatch.setattr(runner, "Observer", KafkaClientOfAGoneBroker)
    monkeypatch.setattr(runner, "LagProbe", KafkaClientOfAGoneBroker)
    monkeypatch.setattr(runner, "WarehouseSimulator", KafkaClientOfAGoneBroker)
    infrastructure = SimpleNamespace(kafka_bootstrap_servers="127.0.0.1:1")

    # The run's own failure comes out, not the cleanup's.
    with pytest.raises(BenchFailed, match="exited with 1 while starting"):
        await runner._with_services(
            infrastructure,  # type: ignore[arg-type]
            BenchConfig(console=False, log_dir=tmp_path),
            BenchOutcome(topic_prefix="t."),
            SimpleNamespace(step=lambda text: None),  # type: ignore[arg-type]
        )

    assert len(started) == 4
    assert [service.stopped for service in started] == [True] * 4
