"""``OrderPlaced`` → authorise the order's total, once per order, ever.

The order's lock is taken first, then the payment and the order facts are read: the same
``OrderPlaced`` delivered twice, re-sent in a new message or consumed by two instances at
once authorises once (the provider call carries ``authorise:<order_id>`` as its key).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events.orders import OrderPlaced
from orderflow_contracts.events.payments import (
    PaymentAuthorized,
    PaymentDeclineCode,
    PaymentDeclined,
    PaymentVoidReason,
)
from orderflow_contracts.primitives import clip_text

from orderflow_payment.domain import ledger
from orderflow_payment.domain.model import OrderFacts, Payment, StockStatus
from orderflow_payment.domain.providers import (
    Authorise,
    ProviderRefusedAfterUnknown,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    UnknownProvider,
    authorisation_key,
    payment_id_for,
)
from orderflow_payment.domain.tokens import mask_token
from orderflow_payment.handlers._movements import Work, applied_event, capture, reason_code, void
from orderflow_payment.handlers._provider_calls import UNKNOWN_OUTCOMES, Sleep, call_provider
from orderflow_payment.ports import PaymentProviders
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

# A capture the provider answered it did not make (declined, or refused with no earlier call of
# its key unanswered); a capture refused after an unanswered call may have been made.
_CAPTURE_CERTAINLY_NOT_MADE = frozenset({"capture_declined", "capture_rejected"})


async def authorise_payment(
    event: OrderPlaced,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> None:
    """→ ``PaymentAuthorized`` (and ``PaymentCaptured`` at once if stock is already reserved)
    or ``PaymentDeclined`` with the provider's reason. Nothing for an order already dead, unless
    a call of ours for it went unanswered: then it is asked again and an approval voided."""
    order_id = event.order_id
    cause = applied_event(uow)
    await uow.repos.payments.lock_order(order_id)
    if await uow.repos.payments.get(order_id) is not None:
        log.info("payment.already_exists", order_id=str(order_id))
        return
    facts = await uow.repos.order_facts.facts(order_id)
    if facts.order_is_dead and authorisation_key(order_id) not in UNKNOWN_OUTCOMES:
        # Stock unavailable/released or the order cancelled before we got here: a hold on
        # the customer's money could only be voided again. Nothing to authorise or announce.
        # (After a call of ours went unanswered it may hold the money: it is asked again
        # below, under its key, and an approval voided.)
        log.info(
            "payment.not_authorised_order_dead",
            order_id=str(order_id),
            stock=facts.stock_status,
            cancelled=facts.cancelled_reason,
        )
        return
    method = event.payment.method
    try:
        provider = providers.for_method(method)
    except UnknownProvider as error:
        raise PermanentError("provider_not_configured", str(error)) from error
    payment_id = payment_id_for(order_id)
    token = event.payment.provider_token
    request = Authorise(authorisation_key(order_id), order_id, event.total, method, token)
    log.debug(
        "payment.authorising",
        payment_id=str(payment_id),
        amount=str(event.total),
        method=method,
        provider=provider.name,
        token=mask_token(token),
    )
    try:
        result = await call_provider(
            "authorise",
            request.idempotency_key,
            lambda: provider.authorise(request),
            settings=settings,
            sleep=sleep,
        )
    except ProviderUnavailable as error:
        if error.outcome_unknown:  # it may hold the customer's money: ask again, same key
            raise TransientError(
                f"authorisation of order {order_id}: provider outcome unknown ({error.kind})"
            ) from error
        result = ProviderResult.decline(
            PaymentDeclineCode.PROVIDER_UNAVAILABLE,
            f"the payment provider did not answer after {settings.provider_retry_attempts} "
            f"attempts ({error.kind})",
        )
    except ProviderRefusedAfterUnknown as error:
        # Its answer to this request; an earlier, unanswered call may have left a hold, which
        # lapses at the provider and which reconciliation reports.
        log.warning("payment.authorisation_refused_after_unknown", order_id=str(order_id))
        result = ProviderResult.decline(
            # A decline keeps its reason (insufficient funds...); a refusal is the request's.
            reason_code(error.code, PaymentDeclineCode.DO_NOT_HONOUR)
            if error.declined
            else PaymentDeclineCode.INVALID_TOKEN,
            f"the provider refused the request ({error.code}) after an earlier call went "
            "unanswered",
        )
    except ProviderRejected as error:
        result = ProviderResult.decline(
            PaymentDeclineCode.INVALID_TOKEN, f"the provider refused the request: {error.code}"
        )

    if facts.order_is_dead and (not result.approved or result.reference is None):
        log.info("payment.dead_order_holds_nothing", order_id=str(order_id))
        return
    if not result.approved or result.reference is None:
        payment = Payment.declined(
            payment_id=payment_id,
            order_id=order_id,
            method=method,
            provider=provider.name,
            amount=event.total,
            correlation_id=cause.correlation_id,
        )
        code = reason_code(result.decline_code, PaymentDeclineCode.DO_NOT_HONOUR)
        if not await uow.repos.payments.add(
            payment, token_masked=mask_token(token), caused_by=cause.event_id, decline_code=code
        ):
            return
        await uow.emit(
            PaymentDeclined(
                order_id=order_id,
                payment_id=payment_id,
                amount=event.total,
                reason_code=code,
                message=clip_text(result.message or code),
                provider=provider.name,
                provider_reference=result.reference,
            )
        )
        log.info("payment.declined", payment_id=str(payment_id), reason_code=code)
        return

    payment = Payment.authorised(
        payment_id=payment_id,
        order_id=order_id,
        method=method,
        provider=provider.name,
        amount=event.total,
        reference=result.reference,
        expires_at=uow.now + timedelta(seconds=settings.authorization_ttl_s),
        correlation_id=cause.correlation_id,
    )
    if not await uow.repos.payments.add(
        payment, token_masked=mask_token(token), caused_by=cause.event_id
    ):
        log.warning("payment.lost_race", order_id=str(order_id))
        return
    await uow.repos.ledger.post(ledger.authorisation(order_id, payment_id, event.total))
    await uow.emit(
        PaymentAuthorized(
            order_id=order_id,
            payment_id=payment_id,
            amount=event.total,
            method=method,
            provider=provider.name,
            provider_reference=result.reference,
            expires_at=payment.expires_at,
        )
    )
    log.info("payment.authorised", payment_id=str(payment_id), amount=str(event.total))
    if facts.order_is_dead:
        await void(
            payment, _void_reason(facts), uow, providers=providers, settings=settings, sleep=sleep
        )
    elif facts.stock_status is StockStatus.RESERVED:
        try:
            await capture(payment, uow, providers=providers, settings=settings, sleep=sleep)
        except PermanentError as error:
            if error.code not in _CAPTURE_CERTAINLY_NOT_MADE:
                raise  # it may have been made (refused after an unanswered call): ops look
            # The provider holds the money: undone with this record, the hold would have no
            # row and nothing would ever void it. Kept, it is voided when the reservation
            # it waited for is released (as after a capture refused on StockReserved).
            log.error(
                "payment.capture_refused_after_authorisation",
                order_id=str(order_id),
                code=error.code,
                reason=error.reason,
            )


def _void_reason(facts: OrderFacts) -> PaymentVoidReason:
    """Why an order that died before its authorisation was answered has it voided."""
    if facts.cancelled_reason is not None:
        return PaymentVoidReason.ORDER_CANCELLED
    if facts.stock_status is StockStatus.UNAVAILABLE:
        return PaymentVoidReason.STOCK_UNAVAILABLE
    return PaymentVoidReason.RESERVATION_RELEASED
