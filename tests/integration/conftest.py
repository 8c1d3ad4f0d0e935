"""Fixtures of the chassis' integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from orderflow_localinfra.discovery import Infrastructure

from tests.support.probe_process import ProbeProcess


@pytest.fixture
def probe_processes(
    infrastructure: Infrastructure, tmp_path: Path
) -> Iterator[dict[str, ProbeProcess]]:
    processes = {
        schema: ProbeProcess(
            schema,
            infrastructure.service_database_urls[schema],
            infrastructure.kafka_bootstrap_servers,
            tmp_path,
        )
        for schema in ("probe_a", "probe_b")
    }
    yield processes
    for process in processes.values():
        process.stop()
