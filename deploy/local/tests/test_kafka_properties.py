"""The generated broker configuration (no broker needed)."""

from pathlib import Path

import pytest
from orderflow_localinfra.java_runtime import parse_java_major_version, pinned_kafka_version
from orderflow_localinfra.kafka_config import (
    QUICK_JIT,
    KafkaSettings,
    broker_jvm_options,
    render_log4j2_config,
    render_server_properties,
)
from orderflow_localinfra.layout import find_repository_root


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


@pytest.fixture
def properties(tmp_path: Path) -> dict[str, str]:
    return parse_properties(render_server_properties(KafkaSettings(), tmp_path / "data"))


def test_one_process_is_broker_and_controller_on_loopback_only(properties: dict[str, str]) -> None:
    assert properties["process.roles"] == "broker,controller"
    assert properties["listeners"] == ("PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093")
    assert properties["advertised.listeners"] == properties["listeners"]
    assert properties["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert properties["controller.listener.names"] == "CONTROLLER"
    assert properties["inter.broker.listener.name"] == "PLAINTEXT"
    assert "0.0.0.0" not in "".join(properties.values())  # noqa: S104 - asserting its absence


def test_internal_topics_fit_a_single_broker(properties: dict[str, str]) -> None:
    for prefix in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert properties[f"{prefix}.replication.factor"] == "1"
        assert properties[f"{prefix}.min.isr"] == "1"


def test_topics_are_created_on_demand_with_three_partitions(properties: dict[str, str]) -> None:
    assert properties["auto.create.topics.enable"] == "true"
    assert properties["num.partitions"] == "3"
    assert properties["group.initial.rebalance.delay.ms"] == "0"


def test_consumers_may_ask_for_sessions_under_three_seconds(properties: dict[str, str]) -> None:
    assert properties["group.min.session.timeout.ms"] == "1000"


def test_storage_goes_to_the_given_directory(tmp_path: Path) -> None:
    text = render_server_properties(KafkaSettings(), tmp_path / "data")
    assert parse_properties(text)["log.dirs"] == str(tmp_path / "data")


def test_ports_come_from_the_settings(tmp_path: Path) -> None:
    settings = KafkaSettings(broker_port=29092, controller_port=29093)
    properties = parse_properties(render_server_properties(settings, tmp_path))
    assert properties["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert settings.bootstrap_servers == "127.0.0.1:29092"


def test_log4j_writes_server_log_into_the_logs_directory(tmp_path: Path) -> None:
    config = render_log4j2_config(tmp_path / "logs")
    assert f"fileName = {tmp_path / 'logs' / 'server.log'}" in config
    assert "shutdownHook = disable" in config


def test_the_pom_pins_a_kafka_4_release() -> None:
    pom = find_repository_root() / "deploy/local/kafka/pom.xml"
    assert pinned_kafka_version(pom).startswith("4.")


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_402"', 8),
        ("no version here", None),
    ],
)
def test_java_version_is_read_from_java_dash_version(output: str, major: int | None) -> None:
    assert parse_java_major_version(output) == major


def test_the_broker_and_its_tools_compile_with_c1_only() -> None:
    # C2's compiler threads took 28 % of a core for minutes after each start (decision 72).
    options = broker_jvm_options(KafkaSettings(heap="768m"))
    assert QUICK_JIT == "-XX:TieredStopAtLevel=1"
    assert QUICK_JIT in options
    assert {"-Xms768m", "-Xmx768m"} <= set(options)
