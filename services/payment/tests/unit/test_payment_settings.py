"""Payment's own settings refuse contradictions at start, naming the settings."""

from __future__ import annotations

import pytest
from orderflow_payment.settings import PaymentSettings
from pydantic import ValidationError


def test_a_first_retry_pause_longer_than_the_longest_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError) as refused:
        PaymentSettings(provider_retry_initial_delay_s=5, provider_retry_max_delay_s=1)
    message = str(refused.value)
    assert "PAYMENT_PROVIDER_RETRY_INITIAL_DELAY_S (5.0)" in message
    assert "PAYMENT_PROVIDER_RETRY_MAX_DELAY_S (1.0)" in message


def test_equal_pauses_are_allowed() -> None:
    settings = PaymentSettings(provider_retry_initial_delay_s=1, provider_retry_max_delay_s=1)
    assert settings.provider_retry_max_delay_s == 1


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_PROVIDER_RETRY_INITIAL_DELAY_S", "3")
    monkeypatch.setenv("PAYMENT_PROVIDER_RETRY_MAX_DELAY_S", "2")
    with pytest.raises(ValidationError, match="must not exceed"):
        PaymentSettings()
