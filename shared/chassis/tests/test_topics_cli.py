"""``orderflow-topics apply`` under the production profile refuses before touching a broker."""

from pathlib import Path

import pytest
from orderflow_chassis.topics_cli import app
from typer.testing import CliRunner

WEAK_FILE = """
defaults:
  partitions: 12
  replication_factor: 1
  min_insync_replicas: 1
  retention_ms: 604800000
  cleanup_policy: delete
topics:
  - {name: orders, kind: public}
  - {name: orders.dlq, kind: dead-letter}
"""


def apply(monkeypatch: pytest.MonkeyPatch, *args: str, **env: str) -> tuple[int, str]:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ORDERFLOW_ENV", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["apply", *args])
    return result.exit_code, result.output


def test_production_refuses_a_weakly_replicated_file_and_a_missing_broker_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    weak = tmp_path / "topics.yaml"
    weak.write_text(WEAK_FILE, encoding="utf-8")

    code, output = apply(
        monkeypatch, "--file", str(weak), "--partitions", "2", ORDERFLOW_ENV="production"
    )

    assert code == 2, output
    assert "ORDERFLOW_ENV=production refuses: nothing was created:" in output
    assert f"{weak}: replication_factor below 3 for orders, orders.dlq" in output
    assert f"{weak}: min_insync_replicas below 2 for orders, orders.dlq" in output
    assert "KAFKA_BOOTSTRAP_SERVERS is not set (or give --bootstrap-servers)" in output
    assert "--partitions is for development" in output


def test_an_invalid_file_is_refused_with_its_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "topics.yaml"
    broken.write_text(WEAK_FILE.replace("partitions: 12", "partitions: many"), encoding="utf-8")

    code, output = apply(monkeypatch, "--file", str(broken))

    assert code == 2, output
    assert "defaults.partitions: Input should be a valid integer" in output
