"""ORDERFLOW_ENV=production: the ops tools that talk to Kafka (orderflow-dlq, orderflow-topics;
orderflow-ops in ops/tests) refuse plaintext Kafka unless KAFKA_ALLOW_PLAINTEXT=true and a
broker address left to the development default, saying what to set, before connecting."""

from __future__ import annotations

import pytest
from orderflow_chassis import dlq_cli, topics_cli
from orderflow_chassis.kafka_security import KafkaSecurity, SecurityProtocol
from orderflow_chassis.kafka_tool_profile import KafkaToolProfile, kafka_tool_refusals
from typer.main import Typer
from typer.testing import CliRunner

# Nothing listens here: a tool that got past its refusals would fail differently (not 2).
NOWHERE = "127.0.0.1:9"
TOOL_COMMANDS = [
    pytest.param(dlq_cli.app, ["list", "orders.dlq"], "orderflow-dlq", id="dlq-list"),
    pytest.param(
        dlq_cli.app,
        ["replay", "orders.dlq", "--partition", "0", "--offset", "3"],
        "orderflow-dlq",
        id="dlq-replay",
    ),
    pytest.param(topics_cli.app, ["apply", "--dry-run"], "orderflow-topics", id="topics-apply"),
]


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell running the tests may point at a broker; these tests set what they need."""
    for name in (
        "ORDERFLOW_ENV",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_ALLOW_PLAINTEXT",
        "KAFKA_SSL_CAFILE",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def run(app: Typer, arguments: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, arguments)
    return result.exit_code, result.output


@pytest.mark.parametrize(("app", "arguments", "tool"), TOOL_COMMANDS)
def test_production_refuses_plaintext_kafka_and_the_default_address(
    app: Typer, arguments: list[str], tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_ENV", "production")

    code, output = run(app, arguments)

    assert code == 2, output
    assert "KAFKA_BOOTSTRAP_SERVERS is not set (or give --bootstrap-servers)" in output
    assert "KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in output
    assert "set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SSL)" in output
    assert "KAFKA_ALLOW_PLAINTEXT=true" in output


@pytest.mark.parametrize(("app", "arguments", "tool"), TOOL_COMMANDS)
def test_production_refuses_plaintext_even_with_an_address(
    app: Typer, arguments: list[str], tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_ENV", "production")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "ops")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-a-secret")

    code, output = run(app, [*arguments, "--bootstrap-servers", NOWHERE])

    assert code == 2, output
    assert "KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT: events" in output
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" not in output


@pytest.mark.parametrize(("app", "arguments", "tool"), TOOL_COMMANDS)
def test_an_invalid_security_setting_is_refused_in_every_environment(
    app: Typer, arguments: list[str], tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "/nonexistent/ca.pem")

    code, output = run(app, [*arguments, "--bootstrap-servers", NOWHERE])

    assert code == 2, output
    assert f"{tool}: " in output
    assert "KAFKA_SSL_CAFILE=/nonexistent/ca.pem: no such file" in output


def refusals(bootstrap: str | None, protocol: str, **profile: object) -> list[str]:
    security = KafkaSecurity.model_construct(security_protocol=SecurityProtocol(protocol))
    return kafka_tool_refusals(bootstrap, security, KafkaToolProfile.model_validate(profile))


def test_explicitly_allowed_plaintext_and_an_address_are_accepted_in_production() -> None:
    production = {"environment": "production"}
    assert refusals("kafka:9092", "PLAINTEXT", **production, kafka_allow_plaintext=True) == []
    assert refusals("kafka:9093", "SASL_SSL", **production) == []
    assert len(refusals("kafka:9092", "PLAINTEXT", **production)) == 1


def test_development_refuses_nothing() -> None:
    assert refusals(None, "PLAINTEXT") == []
