"""Retries of transient provider failures, idempotency keys and token masking."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from orderflow_chassis.clock import SettableClock
from orderflow_payment.adapters.provider_registry import ProviderRegistry
from orderflow_payment.domain.providers import (
    Authorise,
    ProviderUnavailable,
    authorisation_key,
    cancellation_refund_id,
    capture_key,
    refund_key,
)
from orderflow_payment.domain.tokens import mask_token
from orderflow_payment.handlers import PaymentDependencies, _Work, payment_id_for
from orderflow_payment.settings import PaymentSettings


def work(attempts: int, sleeps: list[float]) -> _Work:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    deps = PaymentDependencies(
        providers=ProviderRegistry({}),
        clock=SettableClock(),
        settings=PaymentSettings(
            provider_retry_attempts=attempts,
            provider_retry_initial_delay_s=0.2,
            provider_retry_max_delay_s=0.5,
        ),
        schema="payment",
        sleep=sleep,
    )
    return _Work(cast(Any, None), deps, emit=cast(Any, None), caused_by=uuid.uuid4())


def failing(times: int) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise ProviderUnavailable("http_503")
        return "ok"

    return call, calls


async def test_transient_failures_are_retried_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    call, calls = failing(3)
    assert await work(4, sleeps).call("authorise", call) == "ok"
    assert (len(calls), sleeps) == (4, [0.2, 0.4, 0.5])


async def test_the_last_failure_is_raised_when_attempts_run_out() -> None:
    sleeps: list[float] = []
    call, calls = failing(10)
    with pytest.raises(ProviderUnavailable):
        await work(3, sleeps).call("capture", call)
    assert (len(calls), sleeps) == (3, [0.2, 0.4])


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
