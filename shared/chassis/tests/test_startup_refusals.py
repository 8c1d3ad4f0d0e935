"""``orderflow-<service> run`` refuses a bad start with the message, exit code 2, no traceback,
before connecting to anything."""

from pathlib import Path

import pytest
from orderflow_chassis.service_cli import service_cli
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts.policies import AfterSalesPolicy
from typer.testing import CliRunner


def definition(_: ServiceSettings) -> ServiceDefinition:
    return ServiceDefinition(name="cart")


def run(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[int, str]:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "CART_HTTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(service_cli("cart", definition), ["run"])
    return result.exit_code, result.output


def test_production_with_development_settings_is_refused_naming_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The database is unreachable on purpose: the refusal comes before any connection.
    code, output = run(
        monkeypatch,
        ORDERFLOW_ENV="production",
        CART_DATABASE_URL="postgresql://orderflow_cart:cart-local-password@127.0.0.1:9/none",
    )

    assert code == 2, output
    assert "orderflow-cart: cannot start: cart: ORDERFLOW_ENV=production refuses" in output
    for named in ("KAFKA_BOOTSTRAP_SERVERS", "CART_DATABASE_URL", "KAFKA_SECURITY_PROTOCOL"):
        assert named in output
    assert "Traceback" not in output


def test_a_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CART_DATABASE_URL", raising=False)

    code, output = run(monkeypatch)

    assert code == 2, output
    assert "orderflow-cart: cannot start:" in output
    assert "database_url" in output
    assert "Field required" in output


def test_an_invalid_topics_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "topics.yaml"
    broken.write_text("defaults: {}\ntopics: []\n", encoding="utf-8")

    code, output = run(
        monkeypatch,
        CART_DATABASE_URL="postgresql://x@127.0.0.1:9/none",
        KAFKA_TOPICS_FILE=str(broken),
    )

    assert code == 2, output
    assert f"{broken}: invalid topics file" in output


def test_a_bad_after_sales_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def reads_the_policy(_: ServiceSettings) -> ServiceDefinition:
        AfterSalesPolicy.from_environment()  # as the cart and returns definitions do
        return ServiceDefinition(name="cart")

    monkeypatch.setenv("AFTER_SALES_RETURN_WINDOW_DAYS", "abc")
    monkeypatch.setenv("CART_DATABASE_URL", "postgresql://orderflow_cart:x@127.0.0.1:9/none")
    result = CliRunner().invoke(service_cli("cart", reads_the_policy), ["run"])

    assert result.exit_code == 2, result.output
    assert "AFTER_SALES_RETURN_WINDOW_DAYS" in result.output
    assert "Traceback" not in result.output
