"""Money movements on an existing payment — capture, void, refund — over the provider calls of
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
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.events.payments import (
    PaymentCaptured,
    PaymentVoided,
    PaymentVoidReason,
    RefundFailed,
    RefundFailureCode,
    RefundIssued,
)
from orderflow_contracts.money import Money
from orderflow_contracts.primitives import REASON_CODE_PATTERN

from orderflow_payment.domain import ledger
from orderflow_payment.domain.model import Payment, refund_refusal, refund_refusal_message
from orderflow_payment.domain.providers import (
    Capture,
    PaymentProvider,
    ProviderRefusedAfterUnknown,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Refund,
    UnknownProvider,
    Void,
    capture_key,
    refund_key,
    void_key,
)
from orderflow_payment.handlers._provider_calls import (
    UNKNOWN_OUTCOMES,
    Sleep,
    call_provider,
)
from orderflow_payment.ports import PaymentProviders, PaymentRepositories
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

CANCELLATION_REFUND_REFUSED = "cancellation_refund_refused"
CANCELLATION_REFUND_OUTCOME_UNKNOWN = "cancellation_refund_outcome_unknown"
CAPTURE_REFUSED_AFTER_UNKNOWN = "capture_refused_after_unknown"
REFUND_ID_REUSED = "refund_id_reused"
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
    """Release an authorisation → ``PaymentVoided(reason)``. With ``finish_unknown_capture``
    (a cancellation, which then refunds), when the provider refuses the void while a capture
    of this payment has no answer, that capture is finished → ``PaymentCaptured`` (``payment``
    is then captured); if the provider refuses that too, the void's refusal stands."""
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
        if not finish_unknown_capture or capture_key(payment.payment_id) not in UNKNOWN_OUTCOMES:
            raise
        # A capture of this payment may have been done without an answer (a timeout): that is
        # why the provider refuses the void. Finish the capture under its own key, which the
        # provider answers as it did; the caller then sees a captured payment (and refunds it).
        log.warning(
            "payment.void_refused_after_unknown_capture", payment_id=str(payment.payment_id)
        )
        try:
            await capture(payment, uow, providers=providers, settings=settings, sleep=sleep)
        except PermanentError as error:
            if error.code != CAPTURE_REFUSED_AFTER_UNKNOWN:
                raise
            # Refused both ways: no retry would change that; ops settle it (a dead letter,
            # and reconciliation reports any charge), rather than a partition stalled on it.
            # Any other failure (the provider unavailable) retries the cancellation.
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


@dataclass(frozen=True)
class RefundAsked:
    """A refund to make: by returns (``RefundRequested``) or for a cancelled order."""

    order_id: uuid.UUID
    refund_id: uuid.UUID
    amount: Money
    rma_id: uuid.UUID | None = None
    must_happen: bool = False
    """A cancelled order's refund: nobody asks for it again, so a provider that stays
    unavailable delays it (the batch is retried) rather than failing it."""


async def refund(
    payment: Payment | None,
    asked: RefundAsked,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """Refund up to what was captured and not yet refunded → ``RefundIssued``, or
    ``RefundFailed`` with a reason. A refund id is answered once, unless its failure may be
    asked again (``refund_may_be_asked_again``: the provider did nothing, is not configured, or
    refused after an unanswered call): then asking again with the same id retries it."""
    existing = await uow.repos.refunds.get(asked.refund_id)
    if existing is not None and (existing.order_id, existing.amount) != (
        asked.order_id,
        asked.amount,
    ):
        # The provider knows the refund by its id: asked again for another amount (or order),
        # it would answer the first request, or refuse the key, and our records would
        # disagree with it. A refund id names one refund.
        raise PermanentError(
            REFUND_ID_REUSED,
            f"refund {asked.refund_id} was asked for {existing.amount} of order "
            f"{existing.order_id}; this asks for {asked.amount} of order {asked.order_id}: a "
            "refund_id names one refund (a new refund needs a new refund_id)",
        )
    if existing is not None and not existing.may_be_retried:
        log.info("refund.already_answered", refund_id=str(asked.refund_id), status=existing.status)
        return
    # Failed outcome_unknown before: it may have been paid, whatever this attempt finds.
    maybe_paid = existing is not None and existing.failure_code == RefundFailureCode.OUTCOME_UNKNOWN
    refusal = refund_refusal(payment, asked.amount)
    if refusal is not None:
        message = refund_refusal_message(refusal, payment, asked.amount)
        await _refund_failed(uow, payment, asked, refusal, message, maybe_paid=maybe_paid)
        return
    assert payment is not None
    assert payment.capture_reference is not None
    request = Refund(
        refund_key(asked.refund_id), asked.order_id, payment.capture_reference, asked.amount
    )
    if maybe_paid:
        # Stored, the mark outlives the process: after a restart, a refusal of this key still
        # says nothing of the unanswered call (taken for a plain refusal, the refund id would
        # end provider_refused, and a retry under a new id could pay it twice).
        UNKNOWN_OUTCOMES.add(request.idempotency_key)
    try:
        provider = providers.named(payment.provider)
    except UnknownProvider as error:
        if asked.must_happen:
            raise PermanentError(PROVIDER_NOT_CONFIGURED, str(error)) from error
        # Nothing reached a provider: returns hears why, and asks again once it is configured.
        message = f"{error}; configure it, then ask again under the same refund_id"
        unconfigured = RefundFailureCode.PROVIDER_NOT_CONFIGURED
        await _refund_failed(uow, payment, asked, unconfigured, message, maybe_paid=maybe_paid)
        return
    try:
        result = await call_provider(
            "refund",
            request.idempotency_key,
            lambda: provider.refund(request),
            settings=settings,
            sleep=sleep,
        )
    except ProviderUnavailable as error:
        if error.outcome_unknown or asked.must_happen:
            # The refund may have been paid (only asking again with its key can tell), or it
            # is a cancelled order's, which nobody asks again: either way it must happen.
            raise TransientError(
                f"refund {asked.refund_id}: provider unavailable ({error.kind})"
            ) from error
        message = (
            f"the provider did nothing after {settings.provider_retry_attempts} attempts "
            f"({error.kind}); ask again to retry"
        )
        await _refund_failed(uow, payment, asked, RefundFailureCode.PROVIDER_UNAVAILABLE, message)
        return
    except ProviderRefusedAfterUnknown as error:
        await _refund_outcome_unknown(uow, payment, asked, error)
        return
    except ProviderRejected as error:
        result = ProviderResult.decline(
            RefundFailureCode.PROVIDER_REFUSED, f"provider refused: {error.code}"
        )
    if not result.approved or result.reference is None:
        code = reason_code(result.decline_code, RefundFailureCode.PROVIDER_REFUSED)
        if asked.must_happen:
            # A cancelled order's refund: nobody asks for it again, and a RefundFailed would
            # leave the order charged and not shipped, unnoticed. Dead-lettered, it is before
            # ops with the cause (the provider answers its key the same way again).
            raise PermanentError(
                CANCELLATION_REFUND_REFUSED,
                f"the provider refused the refund of cancelled order {asked.order_id} "
                f"({code}): it stays charged until ops refund it another way (first check "
                "with the provider that no refund of it was made, then a RefundRequested with "
                "a new refund_id, or the provider's dashboard)",
            )
        await _refund_failed(uow, payment, asked, code, result.message or code)
        return
    payment.record_refund(asked.amount)
    await uow.repos.payments.save(payment)
    await uow.repos.refunds.save(
        refund_id=asked.refund_id,
        order_id=asked.order_id,
        payment_id=payment.payment_id,
        rma_id=asked.rma_id,
        amount=asked.amount,
        caused_by=applied_event(uow).event_id,
        provider_reference=result.reference,
    )
    await uow.repos.ledger.post(
        ledger.refund(asked.order_id, payment.payment_id, asked.refund_id, asked.amount)
    )
    await emit_for(
        uow,
        payment,
        RefundIssued(
            order_id=asked.order_id,
            refund_id=asked.refund_id,
            payment_id=payment.payment_id,
            amount=asked.amount,
            total_refunded=payment.refunded,
            rma_id=asked.rma_id,
            provider=payment.provider,
            provider_reference=result.reference,
        ),
    )
    log.info(
        "refund.issued",
        refund_id=str(asked.refund_id),
        amount=str(asked.amount),
        total_refunded=str(payment.refunded),
    )


async def _refund_outcome_unknown(
    uow: Work, payment: Payment, asked: RefundAsked, refused: ProviderRefusedAfterUnknown
) -> None:
    """The provider refused a refund whose earlier call with its id went unanswered: it may
    have been paid. The batch does not retry it (the provider would answer the key the same);
    ops check with the provider (``orderflow-payment reconcile``, or its dashboard), then may
    ask again under the same id (``retry-refund``)."""
    if asked.must_happen:
        raise PermanentError(
            CANCELLATION_REFUND_OUTCOME_UNKNOWN,
            f"the provider refused the refund of cancelled order {asked.order_id} "
            f"({refused.code}) after an earlier call went unanswered: check with the provider "
            "whether it was paid, and refund it another way if not",
        )
    message = (
        f"the provider refused the refund ({refused.code}) after an earlier call with its id "
        "went unanswered, so it may have been paid: check with the provider before asking again"
    )
    await _refund_failed(uow, payment, asked, RefundFailureCode.OUTCOME_UNKNOWN, message)


async def _refund_failed(
    uow: Work,
    payment: Payment | None,
    asked: RefundAsked,
    code: str,
    message: str,
    *,
    maybe_paid: bool = False,
) -> None:
    """Record and announce the refund's failure; one that may have been paid by an earlier
    call (``maybe_paid``) stays ``outcome_unknown``, whatever this attempt found, so that no
    retry under a new refund id can pay it twice."""
    if maybe_paid:
        code = RefundFailureCode.OUTCOME_UNKNOWN
        message = f"an earlier call may have paid it (check with the provider); now: {message}"
    await uow.repos.refunds.save(
        refund_id=asked.refund_id,
        order_id=asked.order_id,
        payment_id=payment.payment_id if payment else None,
        rma_id=asked.rma_id,
        amount=asked.amount,
        caused_by=applied_event(uow).event_id,
        failure_code=str(code),
        failure_message=message,
    )
    await uow.emit(
        RefundFailed(
            order_id=asked.order_id,
            refund_id=asked.refund_id,
            amount=asked.amount,
            reason_code=str(code),
            message=message[:500],
            rma_id=asked.rma_id,
        )
    )
    log.warning("refund.failed", refund_id=str(asked.refund_id), reason_code=str(code))
