"""Retries of transient provider failures, idempotency keys and token masking."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
from orderflow_payment.domain.providers import (
    Authorise,
    ProviderRejected,
    ProviderUnavailable,
    authorisation_key,
    cancellation_refund_id,
    capture_key,
    payment_id_for,
    refund_key,
)
from orderflow_payment.domain.tokens import mask_token
from orderflow_payment.handlers._provider_calls import call_provider
from orderflow_payment.settings import PaymentSettings

T = TypeVar("T")


@pytest.fixture
def jitter_at_its_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each backoff pause is drawn between half its ceiling and the ceiling: take the ceiling,
    so the pauses are exact."""
    monkeypatch.setattr("orderflow_chassis.retry.random.uniform", lambda low, high: high)


class ProviderRetry:
    """The provider retry of one operation, with pauses recorded instead of waited."""

    def __init__(self, attempts: int, sleeps: list[float]) -> None:
        self.sleeps = sleeps
        self.settings = PaymentSettings(
            provider_retry_attempts=attempts,
            provider_retry_initial_delay_s=0.2,
            provider_retry_max_delay_s=0.5,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def call(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        return await call_provider(
            operation,
            f"{operation}:{uuid.uuid4()}",
            attempt,
            settings=self.settings,
            sleep=self._sleep,
        )


def work(attempts: int, sleeps: list[float]) -> ProviderRetry:
    return ProviderRetry(attempts, sleeps)


def failing(times: int) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise ProviderUnavailable("http_503")
        return "ok"

    return call, calls


@pytest.mark.usefixtures("jitter_at_its_ceiling")
async def test_transient_failures_are_retried_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    call, calls = failing(3)
    assert await work(4, sleeps).call("authorise", call) == "ok"
    assert (len(calls), sleeps) == (4, [0.2, 0.4, 0.5])


@pytest.mark.usefixtures("jitter_at_its_ceiling")
async def test_the_last_failure_is_raised_when_attempts_run_out() -> None:
    sleeps: list[float] = []
    call, calls = failing(10)
    with pytest.raises(ProviderUnavailable):
        await work(3, sleeps).call("capture", call)
    assert (len(calls), sleeps) == (3, [0.2, 0.4])


async def test_pauses_are_jittered_between_half_the_ceiling_and_the_ceiling() -> None:
    sleeps: list[float] = []
    call, calls = failing(3)
    assert await work(4, sleeps).call("void", call) == "ok"
    assert len(calls) == 4
    ceilings = [0.2, 0.4, 0.5]
    assert len(sleeps) == len(ceilings)
    for pause, ceiling in zip(sleeps, ceilings, strict=True):
        assert ceiling / 2 <= pause <= ceiling


async def test_a_refusal_is_never_retried() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    async def refused() -> str:
        calls.append(1)
        raise ProviderRejected("unknown_reference", "no such authorisation")

    with pytest.raises(ProviderRejected):
        await work(4, sleeps).call("capture", refused)
    assert (len(calls), sleeps) == (1, [])


def test_idempotency_keys_come_from_the_fact_not_the_message() -> None:
    order, payment, refund = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert authorisation_key(order) == f"authorise:{order}"
    assert capture_key(payment) == f"capture:{payment}"
    assert refund_key(refund) == f"refund:{refund}"
    assert cancellation_refund_id(order) == cancellation_refund_id(order)
    assert payment_id_for(order) == payment_id_for(order) != payment_id_for(uuid.uuid4())


def test_tokens_are_masked() -> None:
    assert mask_token("tok_visa_approve") == "tok_…rove"
    assert mask_token("short") == "………"
    request = Authorise("k", uuid.uuid4(), cast(Any, "55.44 EUR"), "visa", "tok_visa_approve")
    assert "tok_visa_approve" not in repr(request)
