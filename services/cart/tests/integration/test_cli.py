"""``orderflow-cart catalog ...`` and ``rates ...`` against the real database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from orderflow_cart.adapters.reference_data import packaged_file
from orderflow_cart.entrypoints.cli import app
from orderflow_localinfra.discovery import Infrastructure
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(orderflow_infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CART_DATABASE_URL", orderflow_infrastructure.service_database_urls["cart"])
    runner = CliRunner()
    # As an operator would before the first command: this may be its worker's first cart test.
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    return runner


def test_rates_are_listed_with_their_source_and_time(cli: CliRunner, tmp_path: Path) -> None:
    seed = tmp_path / "rates.json"
    seed.write_text(packaged_file("rates.json"))
    loaded = cli.invoke(app, ["rates", "load", str(seed)])
    assert loaded.exit_code == 0, loaded.output
    assert "6 currencies, source seed-file, as of 2025-06-02T16:00:00+00:00" in loaded.output
    listed = cli.invoke(app, ["rates", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        "AUD            1.5120  seed-file  2025-06-02T16:00:00+00:00",
        "CAD            1.3650  seed-file  2025-06-02T16:00:00+00:00",
        "EUR            0.9235  seed-file  2025-06-02T16:00:00+00:00",
        "GBP            0.7890  seed-file  2025-06-02T16:00:00+00:00",
        "JPY            151.37  seed-file  2025-06-02T16:00:00+00:00",
        "USD                 1  seed-file  2025-06-02T16:00:00+00:00",
    ]


def test_a_bad_file_changes_nothing_and_says_why(cli: CliRunner, tmp_path: Path) -> None:
    before = cli.invoke(app, ["catalog", "list", "--all"]).output
    bad = tmp_path / "catalog.csv"
    bad.write_text("sku,name,price_usd\nMB-PEANUT,Peanut ball,12.999\nok-sku,Lower,1.00\n")
    result = cli.invoke(app, ["catalog", "load", str(bad)])
    assert result.exit_code == 1
    assert "line 2: price_usd '12.999' must be a positive decimal" in result.stderr
    assert "line 3: SKU 'ok-sku' must be 2-32 upper-case" in result.stderr
    assert cli.invoke(app, ["catalog", "list", "--all"]).output == before

    bad_rates = tmp_path / "rates.json"
    bad_rates.write_text('{"source": "x", "as_of": "2025-06-02T16:00:00Z", "rates": {"EUR": 0.9}}')
    result = cli.invoke(app, ["rates", "load", str(bad_rates)])
    assert result.exit_code == 1
    assert "rates must be decimal strings" in result.stderr


def test_a_loaded_catalog_adds_reprices_and_withdraws(cli: CliRunner, tmp_path: Path) -> None:
    seed_text = packaged_file("catalog.csv")
    seed = tmp_path / "seed.csv"
    seed.write_text(seed_text)
    new_sku = f"HC-TEST-{uuid.uuid4().hex[:8].upper()}"
    changed = tmp_path / "changed.csv"
    changed.write_text(
        seed_text.replace(
            "MB-PEANUT,Peanut massage ball,12.95", "MB-PEANUT,Peanut massage ball,13.50"
        )
        + f"{new_sku},Test heel cup,5.00\n"
    )
    seeded = cli.invoke(app, ["catalog", "load", str(seed)])  # whatever this database held
    assert seeded.exit_code == 0, seeded.output
    try:
        result = cli.invoke(app, ["catalog", "load", str(changed)])
        assert result.exit_code == 0, result.output
        assert "15 products on sale (1 added, 1 repriced, 0 renamed, 0 withdrawn" in result.output
        assert f"added: {new_sku}" in result.output
        listed = cli.invoke(app, ["catalog", "list"]).output
        assert f"{new_sku:<24}       5.00 USD  Test heel cup" in listed
        assert f"{'MB-PEANUT':<24}      13.50 USD  Peanut massage ball" in listed
    finally:
        restored = cli.invoke(app, ["catalog", "load", str(seed)])
    assert restored.exit_code == 0, restored.output
    assert "14 products on sale (0 added, 1 repriced, 0 renamed, 1 withdrawn" in restored.output
    everything = cli.invoke(app, ["catalog", "list", "--all"]).output
    assert f"{new_sku:<24}       5.00 USD  Test heel cup  (withdrawn)" in everything
    assert new_sku not in cli.invoke(app, ["catalog", "list"]).output
