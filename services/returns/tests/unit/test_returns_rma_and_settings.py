"""RMA transitions, deterministic ids, the RETURNS_* settings and the policy returns applies."""

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from orderflow_returns.bootstrap import service_dependencies
from orderflow_returns.domain.identifiers import refund_id_for, rma_id_for
from orderflow_returns.domain.policy import ReturnsPolicy
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
    assert ReturnsSettings().return_shipping_days == 14


def test_settings_come_from_returns_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNS_RETURN_SHIPPING_DAYS", "10")
    assert ReturnsSettings().return_shipping_days == 10


def test_bad_settings_are_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="return_shipping_days"):
        ReturnsSettings(return_shipping_days=0)


def test_the_window_and_warranty_are_the_stores_shared_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Set once for the cart and returns alike (AFTER_SALES_*), not per service.
    policy = tmp_path / "terms.toml"
    policy.write_text('default_months = 6\ndefault_basis = "test"\n')
    monkeypatch.setenv("AFTER_SALES_RETURN_WINDOW_DAYS", "14")
    monkeypatch.setenv("AFTER_SALES_TIME_ZONE", "Europe/Berlin")
    monkeypatch.setenv("AFTER_SALES_WARRANTY_POLICY_FILE", str(policy))
    applied = service_dependencies(ReturnsSettings())["policy"]
    assert isinstance(applied, ReturnsPolicy)
    delivered = datetime(2025, 2, 3, 12, 0, tzinfo=UTC)
    assert applied.window.last_day(delivered) == date(2025, 2, 17)
    assert applied.window.time_zone == ZoneInfo("Europe/Berlin")
    assert applied.warranty.term_for("DE").months == 6
