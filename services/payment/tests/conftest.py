"""Fixtures of the payment service's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture(scope="session")
def payment_session_started_at() -> datetime:
    """When this test session began (a little earlier, for clock granularity): reconciliation
    after the integration tests covers every order touched since."""
    return datetime.now(UTC) - timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _session_start_is_recorded(payment_session_started_at: datetime) -> None:
    """Taken by every test so the session start is fixed before the first one runs."""
