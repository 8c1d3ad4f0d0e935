"""Which source ensure_infrastructure picks (no broker, database or Docker needed)."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest
from orderflow_localinfra import discovery
from orderflow_localinfra.discovery import Provenance, ensure_infrastructure
from orderflow_localinfra.errors import InfraError
from orderflow_localinfra.local_stack import UpReport

ADMIN_URL = "postgresql://admin:pw@db.example:5432/orderflow"


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def provisioned(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    calls: list[tuple[str, tuple[str, ...]]] = []

    async def fake_provision(admin_dsn: str, services: Sequence[str]) -> dict[str, str]:
        calls.append((admin_dsn, tuple(services)))
        return {service: f"{admin_dsn}#{service}" for service in services}

    monkeypatch.setattr(discovery, "provision_services", fake_provision)
    return calls


class RecordingLocalStack:
    """Stands in for the local processes: records what `up` was asked to start."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def up(self, *, services: Sequence[str], kafka: bool, postgres: bool) -> UpReport:
        self.requests.append({"kafka": kafka, "postgres": postgres})
        return UpReport(
            kafka_bootstrap_servers="127.0.0.1:19092" if kafka else None,
            admin_database_url="postgresql://local/orderflow" if postgres else None,
            service_database_urls={},
            actions={
                name: "started"
                for name, wanted in [("kafka", kafka), ("postgres", postgres)]
                if wanted
            },
        )


@pytest.fixture
def local_stack(monkeypatch: pytest.MonkeyPatch) -> type[RecordingLocalStack]:
    RecordingLocalStack.requests = []
    monkeypatch.setattr(discovery, "LocalStack", RecordingLocalStack)
    return RecordingLocalStack


def test_environment_variables_win_and_nothing_is_started(
    listening_port: int,
    provisioned: list[tuple[str, tuple[str, ...]]],
    local_stack: type[RecordingLocalStack],
) -> None:
    environ = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{listening_port}", "DATABASE_URL": ADMIN_URL}

    infrastructure = ensure_infrastructure(services=["cart", "probe_a"], environ=environ)

    assert infrastructure.kafka_bootstrap_servers == f"127.0.0.1:{listening_port}"
    assert infrastructure.admin_database_url == ADMIN_URL
    assert infrastructure.kafka_provenance is Provenance.ENVIRONMENT
    assert infrastructure.postgres_provenance is Provenance.ENVIRONMENT
    assert infrastructure.started_here == frozenset()
    assert provisioned == [(ADMIN_URL, ("cart", "probe_a"))]
    assert set(infrastructure.service_database_urls) == {"cart", "probe_a"}
    assert local_stack.requests == []


def test_each_server_is_found_independently(
    provisioned: list[tuple[str, tuple[str, ...]]],
    local_stack: type[RecordingLocalStack],
) -> None:
    infrastructure = ensure_infrastructure(
        services=["cart"], use_testcontainers=False, environ={"DATABASE_URL": ADMIN_URL}
    )

    assert local_stack.requests == [{"kafka": True, "postgres": False}]
    assert infrastructure.kafka_provenance is Provenance.LOCAL
    assert infrastructure.postgres_provenance is Provenance.ENVIRONMENT
    assert infrastructure.started_here == frozenset({"kafka"})
    assert provisioned == [(ADMIN_URL, ("cart",))]


def test_local_processes_are_used_when_docker_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
    provisioned: list[tuple[str, tuple[str, ...]]],
    local_stack: type[RecordingLocalStack],
) -> None:
    monkeypatch.setattr(discovery, "docker_engine_answers", lambda timeout=2.0: False)

    infrastructure = ensure_infrastructure(services=["cart"], environ={})

    assert local_stack.requests == [{"kafka": True, "postgres": True}]
    assert infrastructure.kafka_provenance is Provenance.LOCAL
    assert infrastructure.postgres_provenance is Provenance.LOCAL


def test_an_unreachable_kafka_from_the_environment_is_reported(
    provisioned: list[tuple[str, tuple[str, ...]]],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]  # closed again: nothing listens there
    environ = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port}", "DATABASE_URL": ADMIN_URL}

    with pytest.raises(InfraError, match="KAFKA_BOOTSTRAP_SERVERS"):
        ensure_infrastructure(environ=environ)


def test_asking_for_testcontainers_without_docker_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
    provisioned: list[tuple[str, tuple[str, ...]]],
) -> None:
    monkeypatch.setattr(discovery, "docker_engine_answers", lambda timeout=2.0: False)

    with pytest.raises(InfraError, match="no Docker engine answers"):
        ensure_infrastructure(environ={"ORDERFLOW_TESTCONTAINERS": "1"})


def test_probing_for_docker_never_raises() -> None:
    assert discovery.docker_engine_answers(timeout=1) in {True, False}
