"""Reconciliation rules on plain figures: each mismatch has its code."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from orderflow_payment.domain.reconciliation import (
    OrderFigures,
    check_ledger_balances,
    check_order,
    reconcile,
)

CLEAN = OrderFigures(
    order_id=uuid.uuid4(),
    currency="EUR",
    status="partially_refunded",
    authorised=8000,
    captured=8000,
    refunded=3000,
    refunds_issued=3000,
    ledger_receivable=5000,
    ledger_holds=0,
    ledger_captures=1,
    provider_authorisations=1,
    provider_open_authorisations=0,
    provider_captures=1,
    provider_captured=8000,
    provider_refunded=3000,
)


def test_consistent_figures_reconcile() -> None:
    assert check_order(CLEAN).ok
    open_authorisation = replace(
        CLEAN,
        status="authorised",
        captured=0,
        refunded=0,
        refunds_issued=0,
        ledger_receivable=0,
        ledger_holds=8000,
        ledger_captures=0,
        provider_open_authorisations=1,
        provider_captures=0,
        provider_captured=0,
        provider_refunded=0,
    )
    assert check_order(open_authorisation).ok


@pytest.mark.parametrize(
    ("change", "codes"),
    [
        ({"ledger_receivable": 5001}, ["ledger_mismatch"]),
        ({"provider_refunded": 2000}, ["provider_mismatch"]),
        (
            {"refunded": 9000, "refunds_issued": 9000, "ledger_receivable": -1000},
            ["provider_mismatch", "refund_exceeds_capture"],
        ),
        ({"ledger_captures": 2}, ["captured_twice"]),
        ({"provider_captures": 2}, ["captured_twice"]),
        ({"provider_authorisations": 2}, ["authorised_twice"]),
        ({"ledger_holds": 8000}, ["hold_mismatch"]),
        ({"refunds_issued": 2000}, ["refunds_mismatch"]),
        ({"provider_open_authorisations": 1}, ["provider_hold_mismatch"]),
        ({"provider_currency_mismatch": True}, ["currency_mismatch"]),
    ],
)
def test_each_inconsistency_is_named(change: dict[str, object], codes: list[str]) -> None:
    result = check_order(replace(CLEAN, **change))  # type: ignore[arg-type]
    assert [m.code for m in result.mismatches] == codes


def test_the_ledger_must_balance_per_currency() -> None:
    assert check_ledger_balances({"EUR": 0, "JPY": 0}) == []
    (mismatch,) = check_ledger_balances({"EUR": 0, "USD": -1})
    assert (mismatch.code, mismatch.detail) == ("ledger_unbalanced", "USD entries sum to -1, not 0")
    report = reconcile([CLEAN, replace(CLEAN, ledger_receivable=1)], {"EUR": 1})
    assert not report.ok
    assert [m.code for m in report.mismatches] == ["ledger_unbalanced", "ledger_mismatch"]
