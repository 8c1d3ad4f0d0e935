"""RMA transitions, deterministic ids and the RETURNS_* settings."""

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from orderflow_returns.domain.identifiers import refund_id_for, rma_id_for
from orderflow_returns.domain.rma import RmaState, can_move
from orderflow_returns.settings import ReturnsSettings
from pydantic import ValidationError

ORDER = uuid.UUID("5f0c6a8e-3c1b-4d7e-9a52-0b6f1d2e3a4b")


def test_the_happy_path_and_the_ops_paths_are_allowed() -> None:
    assert can_move(RmaState.AUTHORISED, RmaState.RECEIVED)
    assert can_move(RmaState.RECEIVED, RmaState.REFUND_REQUESTED)
    assert can_move(RmaState.REFUND_REQUESTED, RmaState.CLOSED)
    assert can_move(RmaState.REFUND_REQUESTED, RmaState.REFUND_FAILED)
    assert can_move(RmaState.REFUND_FAILED, RmaState.REFUND_REQUESTED)
    assert can_move(RmaState.REFUND_FAILED, RmaState.CLOSED)


def test_repeated_or_late_facts_move_nothing() -> None:
    assert not can_move(RmaState.CLOSED, RmaState.CLOSED)
    assert not can_move(RmaState.CLOSED, RmaState.REFUND_FAILED)
    assert not can_move(RmaState.REFUND_REQUESTED, RmaState.RECEIVED)  # a second parcel
    assert not can_move(RmaState.CLOSED, RmaState.RECEIVED)
    assert not can_move(RmaState.AUTHORISED, RmaState.AUTHORISED)


def test_ids_are_derived_from_what_they_answer() -> None:
    assert rma_id_for(ORDER, "ret-1") == rma_id_for(ORDER, "ret-1")
    assert rma_id_for(ORDER, "ret-1") != rma_id_for(ORDER, "ret-2")
    rma = rma_id_for(ORDER, "ret-1")
    assert refund_id_for(rma) == refund_id_for(rma, 1)
    assert refund_id_for(rma, 2) != refund_id_for(rma, 1)
    with pytest.raises(ValueError, match="from 1"):
        refund_id_for(rma, 0)


def test_defaults() -> None:
    settings = ReturnsSettings()
    assert settings.window.days == 30
    assert settings.window.time_zone == ZoneInfo("UTC")
    assert settings.return_shipping_days == 14
    assert settings.warranty_policy().default_months == 12


def test_settings_come_from_returns_prefixed_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    policy = tmp_path / "terms.toml"
    policy.write_text('default_months = 6\ndefault_basis = "test"\n')
    monkeypatch.setenv("RETURNS_RETURN_WINDOW_DAYS", "14")
    monkeypatch.setenv("RETURNS_WINDOW_TIME_ZONE", "Europe/Berlin")
    monkeypatch.setenv("RETURNS_RETURN_SHIPPING_DAYS", "10")
    monkeypatch.setenv("RETURNS_WARRANTY_POLICY_FILE", str(policy))
    settings = ReturnsSettings()
    assert settings.window.days == 14
    delivered = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)
    assert settings.window.last_day(delivered) == date(2025, 2, 17)
    assert settings.window.time_zone == ZoneInfo("Europe/Berlin")
    assert settings.return_shipping_days == 10
    assert settings.warranty_policy().term_for("DE").months == 6


def test_bad_settings_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        ReturnsSettings(window_time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="return_window_days"):
        ReturnsSettings(return_window_days=-1)
    with pytest.raises(ValueError, match="cannot load the warranty policy"):
        ReturnsSettings(warranty_policy_file=tmp_path / "missing.toml").warranty_policy()
