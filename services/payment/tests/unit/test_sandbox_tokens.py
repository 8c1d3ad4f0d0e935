"""The sandbox's test tokens map to behaviours; references never look like card numbers."""

from __future__ import annotations

import pytest
from orderflow_contracts.card_data import contains_card_number
from orderflow_payment.adapters.sandbox_behaviours import (
    DECLINES,
    behaviour_of,
    failing_attempts,
    sandbox_reference,
)


@pytest.mark.parametrize(
    ("token", "behaviour"),
    [
        ("tok_visa_approve", "approve"),
        ("tok_something_else", "approve"),
        ("tok_visa_decline_insufficient_funds", "decline_insufficient_funds"),
        ("tok_mastercard_decline_do_not_honour", "decline_do_not_honour"),
        ("tok_visa_decline_expired_card", "decline_expired_card"),
        ("tok_paypal_fraud", "fraud"),
        ("tok_visa_timeout_2", "timeout_2"),
        ("tok_visa_5xx_3", "5xx_3"),
        ("tok_visa_unavailable", "unavailable"),
        ("tok_visa_refund_refused", "refund_refused"),
        ("tok_visa_invalid", "invalid"),
    ],
)
def test_tokens_choose_a_behaviour(token: str, behaviour: str) -> None:
    assert behaviour_of(token) == behaviour


def test_declining_behaviours_and_their_reason_codes() -> None:
    assert {b: str(code) for b, (code, _) in DECLINES.items()} == {
        "decline_insufficient_funds": "insufficient_funds",
        "decline_do_not_honour": "do_not_honour",
        "decline_expired_card": "expired_card",
        "fraud": "fraud_suspected",
        "invalid": "invalid_token",
    }


@pytest.mark.parametrize(
    ("behaviour", "failures"),
    [
        ("timeout_2", ("timeout", 2)),
        ("5xx_1", ("unavailable", 1)),
        ("unavailable", ("unavailable", 10**9)),
        ("approve", ("", 0)),
        ("fraud", ("", 0)),
    ],
)
def test_transient_behaviours_fail_a_fixed_number_of_attempts(
    behaviour: str, failures: tuple[str, int]
) -> None:
    assert failing_attempts(behaviour) == failures


def test_references_are_deterministic_per_key_and_never_card_like() -> None:
    assert sandbox_reference("capture", "capture:1") == sandbox_reference("capture", "capture:1")
    assert sandbox_reference("capture", "capture:1") != sandbox_reference("capture", "capture:2")
    references = [sandbox_reference("authorise", f"authorise:{n}") for n in range(2000)]
    assert all(r.startswith("sbx_auth_") for r in references)
    assert not any(contains_card_number(r) for r in references)
