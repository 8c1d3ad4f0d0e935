"""The periodic job: void authorisations left uncaptured past their expiry.

Card schemes hold funds for about a week; an authorisation nobody captured by
``authorization_ttl_s`` is released rather than left to lapse silently.
"""

from __future__ import annotations

import uuid

import structlog
from orderflow_chassis.errors import PermanentError, TransientError, is_transient
from orderflow_chassis.periodic import item_skipped
from orderflow_chassis.unit_of_work import Transactions
from orderflow_contracts.events.payments import PaymentVoidReason

from orderflow_payment.handlers._movements import Work, void
from orderflow_payment.handlers._provider_calls import Sleep
from orderflow_payment.ports import PaymentProviders, PaymentRepositories
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

# Expired authorisations voided per round; the rest wait for the next one.
ROUND_SIZE = 500


async def expire_authorisations(
    transactions: Transactions[PaymentRepositories],
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> int:
    """Void each expired authorisation in its own unit of work, so a provider failing for
    one order, or an order the code fails on, neither rolls back nor holds up the others;
    returns how many were voided."""
    async with transactions.begin(read_only=True) as uow:
        due = await uow.repos.payments.expired_authorisations(uow.now, limit=ROUND_SIZE)
    expired = 0
    for order_id in due:
        try:
            async with transactions.begin() as uow:
                voided = await _expire(
                    order_id, uow, providers=providers, settings=settings, sleep=sleep
                )
        except (TransientError, PermanentError) as error:
            # Tried again in a later round, behind the others; a permanent refusal needs ops
            # (logged each time).
            log.warning("payment.expiry_deferred", order_id=str(order_id), error=str(error))
            await _defer(transactions, order_id)
            continue
        except Exception as error:
            if is_transient(error):
                raise  # the database, not this order: the round ends, the next tick retries
            # A bug this order trips: its unit rolled back (the provider's void is keyed, so
            # asking again cannot move money twice); the others go on.
            item_skipped(str(order_id))
            await _defer(transactions, order_id)
            continue
        if voided:
            expired += 1
    if expired:
        log.info("payment.authorisations_expired", count=expired)
    return expired


async def _defer(transactions: Transactions[PaymentRepositories], order_id: uuid.UUID) -> None:
    """Put the order behind the others: the oldest ones failing every round filled each
    round, and no newer expired authorisation was ever voided."""
    async with transactions.begin() as uow:
        await uow.repos.payments.defer_expiry(order_id, uow.now)


async def _expire(
    order_id: uuid.UUID,
    uow: Work,
    *,
    providers: PaymentProviders,
    settings: PaymentSettings,
    sleep: Sleep,
) -> bool:
    await uow.repos.payments.lock_order(order_id)
    payment = await uow.repos.payments.get(order_id)
    # Captured or voided since it was listed, or its expiry moved on: nothing to do.
    if payment is None or not payment.is_expired(uow.now):
        return False
    reason = PaymentVoidReason.AUTHORIZATION_EXPIRED
    await void(payment, reason, uow, providers=providers, settings=settings, sleep=sleep)
    return True
