"""ORDERFLOW_ENV=production: ``orderflow-ops`` (check, timeline) refuses plaintext Kafka
unless KAFKA_ALLOW_PLAINTEXT=true, and the development broker address, saying what to set,
before it reads anything."""

from __future__ import annotations

import pytest
from orderflow_ops.cli import app
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell running the tests may point at a broker; these tests set what they need."""
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_ALLOW_PLAINTEXT",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORDERFLOW_ENV", "production")


@pytest.mark.parametrize("arguments", [["check"], ["timeline", "an-order-id"]])
def test_production_refuses_plaintext_kafka_and_the_default_address(
    arguments: list[str],
) -> None:
    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2, result.output
    assert result.output.startswith("orderflow-ops: ORDERFLOW_ENV=production refuses")
    assert "KAFKA_BOOTSTRAP_SERVERS is not set (or give --bootstrap-servers)" in result.output
    assert "KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in result.output
    assert "KAFKA_ALLOW_PLAINTEXT=true" in result.output


def test_an_encrypted_protocol_leaves_only_the_address_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "ops")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-a-secret")

    result = CliRunner().invoke(app, ["check"])

    assert result.exit_code == 2, result.output
    assert "(1 to fix)" in result.output
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in result.output
