"""Static checks of docker-compose.yml: it must describe the same system as `make run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from orderflow_localinfra.java_runtime import pinned_kafka_version
from orderflow_localinfra.provisioning import DEFAULT_SERVICES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(REPO / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_same_kafka_release_as_the_local_scripts(
    compose: dict[str, Any],
) -> None:
    image = compose["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{pinned_kafka_version(REPO / 'deploy/local/kafka/pom.xml')}"
    assert compose["services"]["postgres"]["image"] == "postgres:15"


@pytest.mark.parametrize("service", DEFAULT_SERVICES)
def test_every_service_runs_with_its_own_role_after_provisioning(
    compose: dict[str, Any], service: str
) -> None:
    definition = compose["services"][service]
    assert definition["command"] == [f"orderflow-{service}", "run"]
    database_url = definition["environment"][f"{service.upper()}_DATABASE_URL"]
    assert database_url.startswith(f"postgresql://orderflow_{service}:")
    assert database_url.endswith("@postgres:5432/orderflow")
    assert definition["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert definition["depends_on"]["provision"]["condition"] == "service_completed_successfully"


def test_the_declared_topics_are_applied_before_any_service_starts(
    compose: dict[str, Any],
) -> None:
    topics = compose["services"]["topics"]
    assert topics["command"] == ["orderflow-topics", "apply"]
    assert topics["environment"]["KAFKA_TOPICS_FILE"] == "/etc/orderflow/topics.yaml"
    assert topics["volumes"] == ["./deploy/topics.yaml:/etc/orderflow/topics.yaml:ro"]
    assert (REPO / "deploy/topics.yaml").is_file()
    for service in DEFAULT_SERVICES:
        definition = compose["services"][service]
        assert definition["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert definition["environment"]["KAFKA_TOPICS_FILE"] == "/etc/orderflow/topics.yaml"
        assert definition["volumes"] == topics["volumes"]


def test_the_console_runs_like_a_service_and_is_published_on_loopback_only(
    compose: dict[str, Any],
) -> None:
    console = compose["services"]["console"]
    cart = compose["services"]["cart"]
    assert console["command"] == ["orderflow-console", "run"]
    assert console["image"] == cart["image"]
    assert console["build"] == cart["build"]
    environment = console["environment"]
    assert environment["CONSOLE_DATABASE_URL"].startswith("postgresql://orderflow_console:")
    assert environment["CONSOLE_DATABASE_URL"].endswith("@postgres:5432/orderflow")
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert environment["KAFKA_TOPICS_FILE"] == "/etc/orderflow/topics.yaml"
    watched = dict(entry.split("=", 1) for entry in environment["CONSOLE_SERVICES"].split(","))
    assert watched == {
        service: f"http://{service}:{compose['services'][service]['ports'][0].split(':')[-1]}"
        for service in DEFAULT_SERVICES
    }
    # Only this machine reaches it: the console has write actions.
    assert console["ports"] == [f"127.0.0.1:8000:{environment['CONSOLE_HTTP_PORT']}"]
    depends = console["depends_on"]
    assert depends["provision"]["condition"] == "service_completed_successfully"
    assert depends["topics"]["condition"] == "service_completed_successfully"
    assert depends["kafka"]["condition"] == "service_healthy"
    assert set(DEFAULT_SERVICES) <= set(depends)
