"""The payment use cases: one function per event, each in the consumer's transaction.

Every handler first takes the order's lock (:meth:`PaymentRepository.lock_order`), then reads
the payment and the order facts and acts only if the state allows it, so a fact that arrives
twice — in two messages, or at two instances at once — moves money once.

Provider calls happen inside the transaction, with an idempotency key derived from the fact
(order, payment, refund id): if the transaction rolls back after the provider answered, the
retry gets the provider's original answer back instead of moving money again.

Transient provider failures (timeout, 5xx) are retried here ``provider_retry_attempts`` times
with exponential backoff. Then:

* authorise → ``PaymentDeclined(provider_unavailable)`` and refund →
  ``RefundFailed(provider_unavailable)``: the customer / returns get a clear answer;
* capture and void → ``TransientError``: they must happen eventually, so the chassis retries
  the batch with backoff and then rewinds the partition; it waits until the provider is back.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from orderflow_chassis.clock import Clock
from orderflow_chassis.consumer import Handler, HandlerContext
from orderflow_chassis.database import Connection
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_chassis.runtime import RuntimeResources
from orderflow_contracts.events import Event
from orderflow_contracts.events.fulfillment import (
    ReservationReleased,
    StockReserved,
    StockUnavailable,
)
from orderflow_contracts.events.orders import OrderCancelled, OrderPlaced
from orderflow_contracts.events.payments import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclineCode,
    PaymentDeclined,
    PaymentVoided,
    PaymentVoidReason,
    RefundFailed,
    RefundFailureCode,
    RefundIssued,
)
from orderflow_contracts.events.returns import RefundRequested
from orderflow_contracts.money import Money
from orderflow_contracts.primitives import REASON_CODE_PATTERN

from orderflow_payment.adapters.ledger_store import LedgerStore
from orderflow_payment.adapters.provider_registry import ProviderRegistry, UnknownProvider
from orderflow_payment.adapters.repository import PaymentRepository
from orderflow_payment.domain import ledger
from orderflow_payment.domain.model import (
    Payment,
    StockStatus,
    next_stock_status,
    refund_refusal,
    refund_refusal_message,
)
from orderflow_payment.domain.providers import (
    PAYMENT_NAMESPACE,
    Authorise,
    Capture,
    PaymentProvider,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Refund,
    Void,
    authorisation_key,
    cancellation_refund_id,
    capture_key,
    refund_key,
    void_key,
)
from orderflow_payment.domain.tokens import mask_token
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

T = TypeVar("T")
Emit = Callable[[Event], Awaitable[Any]]


@dataclass(frozen=True)
class PaymentDependencies:
    """What the use cases need besides their event: built once in bootstrap."""

    providers: ProviderRegistry
    clock: Clock
    settings: PaymentSettings
    schema: str
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


def payment_id_for(order_id: uuid.UUID) -> uuid.UUID:
    """One payment per order, with an id every retry and instance agrees on."""
    return uuid.uuid5(PAYMENT_NAMESPACE, f"payment:{order_id}")


def _reason_code(code: str | None, fallback: str) -> str:
    return code if code and re.fullmatch(REASON_CODE_PATTERN, code) else fallback


@dataclass
class _Work:
    """One use case's view of the order: its transaction, stores, provider and emitter."""

    connection: Connection
    deps: PaymentDependencies
    emit: Emit
    caused_by: uuid.UUID
    repository: PaymentRepository = field(init=False)
    ledger: LedgerStore = field(init=False)

    def __post_init__(self) -> None:
        self.repository = PaymentRepository(self.connection, self.deps.schema)
        self.ledger = LedgerStore(self.connection, self.deps.schema)

    def provider(self, name: str) -> PaymentProvider:
        try:
            return self.deps.providers.named(name)
        except UnknownProvider as error:
            raise PermanentError("provider_not_configured", str(error)) from error

    async def call(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Call the provider, retrying transient failures with exponential backoff."""
        settings = self.deps.settings
        delay = settings.provider_retry_initial_delay_s
        for number in range(1, settings.provider_retry_attempts + 1):
            try:
                return await attempt()
            except ProviderUnavailable as error:
                if number == settings.provider_retry_attempts:
                    log.warning(
                        "provider.gave_up", operation=operation, attempts=number, error=str(error)
                    )
                    raise
                log.warning(
                    "provider.transient_failure",
                    operation=operation,
                    attempt=number,
                    error=str(error),
                    retry_in_s=delay,
                )
                await self.deps.sleep(delay)
                delay = min(delay * 2, settings.provider_retry_max_delay_s)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ movements

    async def capture(self, payment: Payment) -> None:
        assert payment.authorisation_reference is not None
        request = Capture(
            capture_key(payment.payment_id),
            payment.order_id,
            payment.authorisation_reference,
            payment.amount,
        )
        provider = self.provider(payment.provider)
        try:
            result = await self.call("capture", lambda: provider.capture(request))
        except ProviderUnavailable as error:
            raise TransientError(
                f"capture of payment {payment.payment_id}: provider unavailable ({error.kind})"
            ) from error
        except ProviderRejected as error:
            raise PermanentError("capture_rejected", f"provider refused: {error.code}") from error
        if not result.approved or result.reference is None:
            raise PermanentError(
                "capture_declined", f"provider declined the capture: {result.decline_code}"
            )
        payment.capture(result.reference)
        await self.repository.save(payment)
        await self.ledger.post(ledger.capture(payment.order_id, payment.payment_id, payment.amount))
        await self.emit(
            PaymentCaptured(
                order_id=payment.order_id,
                payment_id=payment.payment_id,
                amount=payment.amount,
                provider=payment.provider,
                provider_reference=result.reference,
            )
        )
        log.info("payment.captured", payment_id=str(payment.payment_id), amount=str(payment.amount))

    async def void(self, payment: Payment, reason: PaymentVoidReason) -> None:
        assert payment.authorisation_reference is not None
        request = Void(
            void_key(payment.payment_id),
            payment.order_id,
            payment.authorisation_reference,
            payment.amount,
        )
        provider = self.provider(payment.provider)
        try:
            result = await self.call("void", lambda: provider.void(request))
        except ProviderUnavailable as error:
            raise TransientError(
                f"void of payment {payment.payment_id}: provider unavailable ({error.kind})"
            ) from error
        except ProviderRejected as error:
            raise PermanentError("void_rejected", f"provider refused: {error.code}") from error
        payment.void()
        await self.repository.save(
            payment, void_reference=result.reference, void_reason=reason.value
        )
        await self.ledger.post(ledger.void(payment.order_id, payment.payment_id, payment.amount))
        await self.emit(
            PaymentVoided(
                order_id=payment.order_id,
                payment_id=payment.payment_id,
                amount=payment.amount,
                reason=reason.value,
                provider=payment.provider,
                provider_reference=result.reference,
            )
        )
        log.info("payment.voided", payment_id=str(payment.payment_id), reason=reason.value)

    async def refund(
        self,
        payment: Payment | None,
        *,
        order_id: uuid.UUID,
        refund_id: uuid.UUID,
        amount: Money,
        rma_id: uuid.UUID | None,
    ) -> None:
        existing = await self.repository.refund(refund_id)
        if existing is not None and not (
            existing.status == "failed"
            and existing.failure_code == RefundFailureCode.PROVIDER_UNAVAILABLE
        ):
            log.info("refund.already_answered", refund_id=str(refund_id), status=existing.status)
            return
        refusal = refund_refusal(payment, amount)
        if refusal is not None:
            message = refund_refusal_message(refusal, payment, amount)
            await self._refund_failed(
                payment, order_id, refund_id, amount, rma_id, refusal, message
            )
            return
        assert payment is not None
        assert payment.capture_reference is not None
        request = Refund(refund_key(refund_id), order_id, payment.capture_reference, amount)
        provider = self.provider(payment.provider)
        try:
            result = await self.call("refund", lambda: provider.refund(request))
        except ProviderUnavailable as error:
            message = (
                f"the provider did not answer after {self.deps.settings.provider_retry_attempts} "
                f"attempts ({error.kind}); ask again with the same refund_id to retry"
            )
            await self._refund_failed(
                payment,
                order_id,
                refund_id,
                amount,
                rma_id,
                RefundFailureCode.PROVIDER_UNAVAILABLE,
                message,
            )
            return
        except ProviderRejected as error:
            result = ProviderResult.decline(
                RefundFailureCode.PROVIDER_REFUSED, f"provider refused: {error.code}"
            )
        if not result.approved or result.reference is None:
            code = _reason_code(result.decline_code, RefundFailureCode.PROVIDER_REFUSED)
            await self._refund_failed(
                payment, order_id, refund_id, amount, rma_id, code, result.message or code
            )
            return
        payment.record_refund(amount)
        await self.repository.save(payment)
        await self.repository.save_refund(
            refund_id=refund_id,
            order_id=order_id,
            payment_id=payment.payment_id,
            rma_id=rma_id,
            amount=amount,
            caused_by=self.caused_by,
            provider_reference=result.reference,
        )
        await self.ledger.post(ledger.refund(order_id, payment.payment_id, refund_id, amount))
        await self.emit(
            RefundIssued(
                order_id=order_id,
                refund_id=refund_id,
                payment_id=payment.payment_id,
                amount=amount,
                total_refunded=payment.refunded,
                rma_id=rma_id,
                provider=payment.provider,
                provider_reference=result.reference,
            )
        )
        log.info(
            "refund.issued",
            refund_id=str(refund_id),
            amount=str(amount),
            total_refunded=str(payment.refunded),
        )

    async def _refund_failed(
        self,
        payment: Payment | None,
        order_id: uuid.UUID,
        refund_id: uuid.UUID,
        amount: Money,
        rma_id: uuid.UUID | None,
        code: str,
        message: str,
    ) -> None:
        await self.repository.save_refund(
            refund_id=refund_id,
            order_id=order_id,
            payment_id=payment.payment_id if payment else None,
            rma_id=rma_id,
            amount=amount,
            caused_by=self.caused_by,
            failure_code=str(code),
            failure_message=message,
        )
        await self.emit(
            RefundFailed(
                order_id=order_id,
                refund_id=refund_id,
                amount=amount,
                reason_code=str(code),
                message=message[:500],
                rma_id=rma_id,
            )
        )
        log.warning("refund.failed", refund_id=str(refund_id), reason_code=str(code))


def _work(context: HandlerContext, deps: PaymentDependencies) -> _Work:
    return _Work(context.connection, deps, context.emit, context.envelope.event_id)


# ---------------------------------------------------------------------------- use cases


async def authorise_payment(
    event: OrderPlaced, context: HandlerContext, deps: PaymentDependencies
) -> None:
    """OrderPlaced → authorise the total → PaymentAuthorized (and capture if stock is
    already reserved) or PaymentDeclined."""
    work = _work(context, deps)
    await work.repository.lock_order(event.order_id)
    if await work.repository.get(event.order_id) is not None:
        log.info("payment.already_exists", order_id=str(event.order_id))
        return
    facts = await work.repository.facts(event.order_id)
    if facts.order_is_dead:
        # Stock unavailable/released or the order cancelled before we got here: a hold on
        # the customer's money could only be voided again. Nothing to authorise or announce.
        log.info(
            "payment.not_authorised_order_dead",
            order_id=str(event.order_id),
            stock=facts.stock_status,
            cancelled=facts.cancelled_reason,
        )
        return
    method = event.payment.method
    try:
        provider = deps.providers.for_method(method)
    except UnknownProvider as error:
        raise PermanentError("provider_not_configured", str(error)) from error
    payment_id = payment_id_for(event.order_id)
    token = event.payment.provider_token
    request = Authorise(
        authorisation_key(event.order_id), event.order_id, event.total, method, token
    )
    log.info(
        "payment.authorising",
        payment_id=str(payment_id),
        amount=str(event.total),
        method=method,
        provider=provider.name,
        token=mask_token(token),
    )
    try:
        result = await work.call("authorise", lambda: provider.authorise(request))
    except ProviderUnavailable as error:
        result = ProviderResult.decline(
            PaymentDeclineCode.PROVIDER_UNAVAILABLE,
            f"the payment provider did not answer after {deps.settings.provider_retry_attempts} "
            f"attempts ({error.kind})",
        )
    except ProviderRejected as error:
        result = ProviderResult.decline(
            PaymentDeclineCode.INVALID_TOKEN, f"the provider refused the request: {error.code}"
        )

    correlation = context.envelope.correlation_id
    if not result.approved or result.reference is None:
        payment = Payment.declined(
            payment_id=payment_id,
            order_id=event.order_id,
            method=method,
            provider=provider.name,
            amount=event.total,
            correlation_id=correlation,
        )
        code = _reason_code(result.decline_code, PaymentDeclineCode.DO_NOT_HONOUR)
        if not await work.repository.add(
            payment, token_masked=mask_token(token), caused_by=work.caused_by, decline_code=code
        ):
            return
        await context.emit(
            PaymentDeclined(
                order_id=event.order_id,
                payment_id=payment_id,
                amount=event.total,
                reason_code=code,
                message=(result.message or code)[:500],
                provider=provider.name,
                provider_reference=result.reference,
            )
        )
        log.info("payment.declined", payment_id=str(payment_id), reason_code=code)
        return

    payment = Payment.authorised(
        payment_id=payment_id,
        order_id=event.order_id,
        method=method,
        provider=provider.name,
        amount=event.total,
        reference=result.reference,
        expires_at=deps.clock.now() + timedelta(seconds=deps.settings.authorization_ttl_s),
        correlation_id=correlation,
    )
    if not await work.repository.add(
        payment, token_masked=mask_token(token), caused_by=work.caused_by
    ):
        log.warning("payment.lost_race", order_id=str(event.order_id))
        return
    await work.ledger.post(ledger.authorisation(event.order_id, payment_id, event.total))
    await context.emit(
        PaymentAuthorized(
            order_id=event.order_id,
            payment_id=payment_id,
            amount=event.total,
            method=method,
            provider=provider.name,
            provider_reference=result.reference,
            expires_at=payment.expires_at,
        )
    )
    log.info("payment.authorised", payment_id=str(payment_id), amount=str(event.total))
    if facts.stock_status is StockStatus.RESERVED:
        await work.capture(payment)


async def record_stock_reserved(
    event: StockReserved, context: HandlerContext, deps: PaymentDependencies
) -> None:
    """StockReserved → remember it; capture if the payment is already authorised."""
    work = _work(context, deps)
    status = await _record_stock(work, event.order_id, StockStatus.RESERVED)
    if status is not StockStatus.RESERVED:
        return
    payment = await work.repository.get(event.order_id)
    if payment is not None and payment.can_capture:
        await work.capture(payment)


async def record_stock_unavailable(
    event: StockUnavailable, context: HandlerContext, deps: PaymentDependencies
) -> None:
    """StockUnavailable → void the authorisation (or never authorise)."""
    work = _work(context, deps)
    await _record_stock(work, event.order_id, StockStatus.UNAVAILABLE)
    await _void_if_authorised(work, event.order_id, PaymentVoidReason.STOCK_UNAVAILABLE)


async def record_reservation_released(
    event: ReservationReleased, context: HandlerContext, deps: PaymentDependencies
) -> None:
    """ReservationReleased → the held stock is gone: never capture, void instead."""
    work = _work(context, deps)
    await _record_stock(work, event.order_id, StockStatus.RELEASED)
    await _void_if_authorised(work, event.order_id, PaymentVoidReason.RESERVATION_RELEASED)


async def cancel_payment(
    event: OrderCancelled, context: HandlerContext, deps: PaymentDependencies
) -> None:
    """OrderCancelled → void an authorisation, or refund what was captured."""
    work = _work(context, deps)
    await work.repository.lock_order(event.order_id)
    await work.repository.record_cancellation(event.order_id, event.reason)
    payment = await work.repository.get(event.order_id)
    if payment is None:
        return
    if payment.can_void:
        await work.void(payment, PaymentVoidReason.ORDER_CANCELLED)
    elif payment.is_captured and payment.refundable.is_positive:
        await work.refund(
            payment,
            order_id=event.order_id,
            refund_id=cancellation_refund_id(event.order_id),
            amount=payment.refundable,
            rma_id=None,
        )


async def refund_payment(
    event: RefundRequested, context: HandlerContext, deps: PaymentDependencies
) -> None:
    """RefundRequested → refund up to captured - refunded → RefundIssued or RefundFailed."""
    work = _work(context, deps)
    await work.repository.lock_order(event.order_id)
    payment = await work.repository.get(event.order_id)
    await work.refund(
        payment,
        order_id=event.order_id,
        refund_id=event.refund_id,
        amount=event.amount,
        rma_id=event.rma_id,
    )


async def _record_stock(work: _Work, order_id: uuid.UUID, reported: StockStatus) -> StockStatus:
    await work.repository.lock_order(order_id)
    current = (await work.repository.facts(order_id)).stock_status
    status = next_stock_status(current, reported)
    if status is not current:
        await work.repository.record_stock(order_id, status)
    return status


async def _void_if_authorised(work: _Work, order_id: uuid.UUID, reason: PaymentVoidReason) -> None:
    payment = await work.repository.get(order_id)
    if payment is not None and payment.can_void:
        await work.void(payment, reason)
    elif payment is not None and payment.is_captured:
        log.warning("payment.void_after_capture_ignored", order_id=str(order_id), reason=reason)


# ---------------------------------------------------------------------------- periodic


async def expire_authorisations(resources: RuntimeResources, deps: PaymentDependencies) -> int:
    """Void authorisations left uncaptured past their expiry; each in its own transaction."""
    now = deps.clock.now()
    async with resources.pool.acquire() as connection:
        due = await PaymentRepository(connection, deps.schema).expired_authorisations(
            now, limit=500
        )
    expired = 0
    for order_id in due:
        async with resources.pool.acquire() as connection, connection.transaction():
            repository = PaymentRepository(connection, deps.schema)
            await repository.lock_order(order_id)
            payment = await repository.get(order_id)
            if payment is None or not payment.is_expired(now):
                continue

            work = _Work(
                connection,
                deps,
                _outbox_emitter(resources, connection, payment.correlation_id),
                caused_by=payment.payment_id,
            )
            try:
                await work.void(payment, PaymentVoidReason.AUTHORIZATION_EXPIRED)
            except (TransientError, PermanentError) as error:
                # Retried next round; a permanent refusal needs ops (logged every round).
                log.warning("payment.expiry_deferred", order_id=str(order_id), error=str(error))
                continue
            expired += 1
    if expired:
        log.info("payment.authorisations_expired", count=expired)
    return expired


def _outbox_emitter(resources: RuntimeResources, connection: Connection, correlation: str) -> Emit:
    async def emit(event: Event) -> Any:
        return await resources.outbox.add(connection, event, correlation_id=correlation)

    return emit


def bind(
    handler: Callable[[Any, HandlerContext, PaymentDependencies], Awaitable[None]],
    deps: PaymentDependencies,
) -> Handler:
    """A chassis handler ``(event, context)`` with the dependencies filled in."""

    async def bound(event: Any, context: HandlerContext, /) -> None:
        await handler(event, context, deps)

    bound.__name__ = getattr(handler, "__name__", "handler")
    return bound
