"""Refunds: up to what was captured and not yet refunded, asked by returns or for a cancelled
order, over the provider calls of :mod:`~orderflow_payment.handlers._provider_calls` (the
rules of :mod:`~orderflow_payment.handlers._movements` hold: one idempotency key per refund id,
recorded in the unit of work). A refund id is answered once, unless its failure may be asked
again; a refund an earlier, unanswered call may have paid stays ``outcome_unknown``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events.payments import RefundFailed, RefundFailureCode, RefundIssued
from orderflow_contracts.money import Money

from orderflow_payment.domain import ledger
from orderflow_payment.domain.model import Payment, refund_refusal, refund_refusal_message
from orderflow_payment.domain.providers import (
    ProviderKeyReused,
    ProviderRefusedAfterUnknown,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Refund,
    refund_key,
)
from orderflow_payment.handlers._movements import (
    Work,
    applied_event,
    emit_for,
    provider_of,
    reason_code,
)
from orderflow_payment.handlers._provider_calls import UNKNOWN_OUTCOMES, Sleep, call_provider
from orderflow_payment.ports import PaymentProviders
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

CANCELLATION_REFUND_REFUSED = "cancellation_refund_refused"
CANCELLATION_REFUND_OUTCOME_UNKNOWN = "cancellation_refund_outcome_unknown"
REFUND_ID_REUSED = "refund_id_reused"


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
    provider_key: str | None = None
    """The idempotency key, when not the refund id's (a cancelled order's refund)."""


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
    # One refund id sent for two orders: their order locks do not serialise them, and both
    # would call the provider under one key before either is recorded.
    await uow.repos.refunds.lock(asked.refund_id)
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
    key = asked.provider_key or refund_key(asked.refund_id)
    request = Refund(key, asked.order_id, payment.capture_reference, asked.amount)
    if maybe_paid:
        # Stored, the mark outlives the process: after a restart, a refusal of this key still
        # says nothing of the unanswered call (taken for a plain refusal, the refund id would
        # end provider_refused, and a retry under a new id could pay it twice).
        UNKNOWN_OUTCOMES.add(request.idempotency_key)
    try:
        provider = provider_of(payment, providers)
    except PermanentError as unconfigured_provider:
        if asked.must_happen:
            raise
        # Nothing reached a provider: returns hears why, and asks again once it is configured.
        message = (
            f"{unconfigured_provider.reason}; configure it, then ask again under the same refund_id"
        )
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
    except ProviderKeyReused as error:
        # Its id was sent to the provider for another refund, whose answer a crash lost
        # before it was recorded: the provider would answer that refund's answer, and it
        # would be recorded as this one's. That refund's own redelivery records it.
        raise PermanentError(
            REFUND_ID_REUSED,
            f"refund {asked.refund_id}: {error.detail} (a refund_id names one refund: a new "
            "refund needs a new refund_id)",
        ) from error
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
