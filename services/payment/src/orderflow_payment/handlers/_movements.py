"""Money movements on an existing payment — capture, void (and refund, in
:mod:`~orderflow_payment.handlers._refund_movement`) — over the provider calls of
:mod:`~orderflow_payment.handlers._provider_calls`; shared by the event handlers and the expiry
job.

Each movement calls the provider with an idempotency key derived from the fact (payment or
refund id), then saves the payment, posts the ledger transaction and emits the event, all in
the unit of work: if it rolls back after the provider answered, the retry gets the
provider's original answer back instead of moving money again.

Transient provider failures are retried ``provider_retry_attempts`` times with exponential
backoff and jitter. Then capture and void raise ``TransientError``: they must happen
eventually, so the consumer retries the batch with backoff and then rewinds the partition until
the provider is back (the expiry job tries again at its next round). So does any call whose
outcome is unknown (a timeout: the provider may have moved the money, and only the same key
asked again can tell), and a cancelled order's refund. Only a returns refund the provider
certainly did not start fails with ``provider_unavailable`` (returns gets an answer, and a
retry cannot pay twice).

A refusal is the provider's answer, and asking again gets it again: a capture or void it
refuses is dead-lettered, a returns refund fails. When an earlier call with the same key went
unanswered, the refusal says nothing of that call, which may have moved money: the dead letter
or ``RefundFailed(outcome_unknown)`` tells ops to check with the provider, instead of a
partition retrying an answer that will not change.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import structlog
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.events.payments import (
    PaymentCaptured,
    PaymentVoided,
    PaymentVoidReason,
)
from orderflow_contracts.primitives import REASON_CODE_PATTERN

from orderflow_payment.domain import ledger
from orderflow_payment.domain.model import Payment
from orderflow_payment.domain.providers import (
    Capture,
    PaymentProvider,
    ProviderRefusedAfterUnknown,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    UnknownProvider,
    Void,
    capture_key,
    void_key,
)
from orderflow_payment.handlers._provider_calls import (
    Sleep,
    call_provider,
)
from orderflow_payment.ports import PaymentProviders, PaymentRepositories
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

PROVIDER_NOT_CONFIGURED = "provider_not_configured"

Work = UnitOfWork[PaymentRepositories]


def reason_code(code: str | None, fallback: str) -> str:
    """A provider's code when the contract can carry it, else ``fallback``."""
    return code if code and re.fullmatch(REASON_CODE_PATTERN, code) else fallback


def applied_event(uow: Work) -> Envelope:
    """The event a handler applies (its id is stored as ``caused_by`` with what it changed)."""
    if uow.cause is None:
        raise RuntimeError("this use case applies an event: its unit of work needs the cause")
    return uow.cause


async def emit_for(uow: Work, payment: Payment, event: Event) -> None:
    """Emit ``event`` about ``payment``: caused by the event being applied, or, for work no
    event caused (the expiry job), in the payment's own journey."""
    correlation = None if uow.cause is not None else payment.correlation_id
    await uow.emit(event, correlation_id=correlation)


def provider_of(payment: Payment, providers: PaymentProviders) -> PaymentProvider:
    """The provider that authorised ``payment`` (later operations must go to it)."""
    try:
        return providers.named(payment.provider)
    except UnknownProvider as error:
        raise PermanentError(PROVIDER_NOT_CONFIGURED, str(error)) from error


async def _must_happen(
    operation: str,
    payment: Payment,
    key: str,
    attempt: Callable[[], Awaitable[ProviderResult]],
    *,
    settings: PaymentSettings,
    sleep: Sleep,
) -> ProviderResult:
    """A capture or a void: a provider still unavailable after the retries is transient (the
    batch is retried until it is back); a refusal is permanent (the event is dead-lettered)."""
    try:
        return await call_provider(operation, key, attempt, settings=settings, sleep=sleep)
    except ProviderUnavailable as error:
        raise TransientError(
            f"{operation} of payment {payment.payment_id}: provider unavailable ({error.kind})"
        ) from error
    except ProviderRefusedAfterUnknown as error:
        raise PermanentError(
            f"{operation}_refused_after_unknown",
            f"the provider refused the {operation} ({error.code}) after an earlier call with its "
            f"key went unanswered: check with the provider whether that call was done",
        ) from error
    except ProviderRejected as error:
        raise PermanentError(f"{operation}_rejected", f"provider refused: {error.code}") from error


async def capture(
    payment: Payment,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """Capture an authorised payment in full → ``PaymentCaptured``."""
    assert payment.authorisation_reference is not None
    request = Capture(
        capture_key(payment.payment_id),
        payment.order_id,
        payment.authorisation_reference,
        payment.amount,
    )
    provider = provider_of(payment, providers)
    result = await _must_happen(
        "capture",
        payment,
        request.idempotency_key,
        lambda: provider.capture(request),
        settings=settings,
        sleep=sleep,
    )
    if not result.approved or result.reference is None:
        raise PermanentError(
            "capture_declined", f"provider declined the capture: {result.decline_code}"
        )
    payment.capture(result.reference)
    await uow.repos.payments.save(payment)
    await uow.repos.ledger.post(
        ledger.capture(payment.order_id, payment.payment_id, payment.amount)
    )
    await emit_for(
        uow,
        payment,
        PaymentCaptured(
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            amount=payment.amount,
            provider=payment.provider,
            provider_reference=result.reference,
        ),
    )
    log.info("payment.captured", payment_id=str(payment.payment_id), amount=str(payment.amount))


async def void(
    payment: Payment,
    reason: PaymentVoidReason,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
    finish_unknown_capture: bool = False,
) -> None:
    """Release an authorisation → ``PaymentVoided(reason)``. With ``finish_unknown_capture``,
    when the provider refuses the void, the payment's capture is asked for under its key: a
    capture made without its answer recorded (a timeout, a crash) is finished →
    ``PaymentCaptured`` (``payment`` is then captured); if the provider refuses that too, the
    void's refusal stands (decision 100)."""
    assert payment.authorisation_reference is not None
    request = Void(
        void_key(payment.payment_id),
        payment.order_id,
        payment.authorisation_reference,
        payment.amount,
    )
    provider = provider_of(payment, providers)
    try:
        result = await _must_happen(
            "void",
            payment,
            request.idempotency_key,
            lambda: provider.void(request),
            settings=settings,
            sleep=sleep,
        )
    except PermanentError as refused:
        if not finish_unknown_capture:
            raise
        # A provider refuses to void an authorisation it no longer holds open: captured (a
        # capture of ours whose answer a timeout or a crash before the commit lost) or lapsed.
        # Finish the capture under its own key, which the provider answers as it did; the
        # payment is then captured (a cancellation refunds it). Lapsed, it is refused too.
        log.warning(
            "payment.void_refused_after_unknown_capture", payment_id=str(payment.payment_id)
        )
        try:
            await capture(payment, uow, providers=providers, settings=settings, sleep=sleep)
        except PermanentError as error:
            # Refused both ways (the capture refused or declined, after an unanswered call or
            # when only the journal knew of it): no retry would change that; ops settle it
            # (the void's dead letter, and reconciliation reports any charge), rather than a
            # partition stalled on it. Any other failure (the provider unavailable) retries.
            raise refused from error
        return
    payment.void()
    await uow.repos.payments.save(
        payment, void_reference=result.reference, void_reason=reason.value
    )
    await uow.repos.ledger.post(ledger.void(payment.order_id, payment.payment_id, payment.amount))
    await emit_for(
        uow,
        payment,
        PaymentVoided(
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            amount=payment.amount,
            reason=reason.value,
            provider=payment.provider,
            provider_reference=result.reference,
        ),
    )
    log.info("payment.voided", payment_id=str(payment.payment_id), reason=reason.value)
