"""The `orderflow-infra` commands that need no running server."""

import shlex

import pytest
from orderflow_localinfra.cli import app
from orderflow_localinfra.errors import InfraError, PortTaken
from orderflow_localinfra.local_stack import _raise_failures
from typer.testing import CliRunner

runner = CliRunner()


def test_env_prints_exports_for_kafka_the_admin_and_each_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORDERFLOW_CART_DB_PASSWORD", raising=False)
    result = runner.invoke(app, ["env"])

    assert result.exit_code == 0
    exports = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in result.stdout.splitlines()
    )
    assert exports["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert exports["DATABASE_URL"] == (
        "postgresql://orderflow_admin:orderflow_admin@127.0.0.1:15432/orderflow"
    )
    assert exports["CART_DATABASE_URL"] == (
        "postgresql://orderflow_cart:cart-local-password@127.0.0.1:15432/orderflow"
    )
    assert {"PAYMENT_DATABASE_URL", "FULFILLMENT_DATABASE_URL", "RETURNS_DATABASE_URL"} <= set(
        exports
    )


def test_env_quotes_passwords_for_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_CART_DB_PASSWORD", "it's $secret")
    result = runner.invoke(app, ["env", "--service", "cart"])

    line = next(line for line in result.stdout.splitlines() if "CART_DATABASE_URL" in line)
    assert shlex.split(line)[1] == (
        "CART_DATABASE_URL=postgresql://orderflow_cart:it%27s%20%24secret@127.0.0.1:15432/orderflow"
    )


def test_reset_refuses_without_confirmation() -> None:
    result = runner.invoke(app, ["reset"])

    assert result.exit_code == 2
    assert "--yes" in result.stderr


def test_one_failed_start_is_reraised_as_is() -> None:
    failure = PortTaken("port 19092 taken", "stop it")
    with pytest.raises(PortTaken) as raised:
        _raise_failures({"kafka": failure})
    assert raised.value is failure


def test_two_failed_starts_are_both_reported() -> None:
    with pytest.raises(InfraError) as raised:
        _raise_failures(
            {
                "kafka": PortTaken("port 19092 taken", "stop it"),
                "postgres": PortTaken("port 15432 taken", "stop that"),
            }
        )
    assert "19092" in raised.value.problem
    assert "15432" in raised.value.problem


def test_an_invalid_service_name_is_an_error_not_a_traceback() -> None:
    result = runner.invoke(app, ["env", "--service", "Cart-Service"])

    assert result.exit_code == 2
    assert "invalid service name 'Cart-Service'" in result.stderr
