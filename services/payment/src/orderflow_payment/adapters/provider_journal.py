"""The journal of provider calls (``provider_calls``), and providers that write in it first.

A call is written down, and committed on a session of its own, before it is made: the
transaction that records the provider's answer may be lost to a crash after the provider
acted, and the journal then says the call was made. Two uses (decision 100):

* a key asked again for another request than the one first written under it is refused
  (:class:`~orderflow_payment.domain.providers.ProviderKeyReused`) before it reaches the
  provider, which would answer it with the first request's answer;
* a use case that must know whether money may have moved asks :meth:`called` (a
  cancellation whose void is refused finishes a capture that was made; an authorisation for
  an order already dead is asked again, and an approval voided).
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg
from orderflow_chassis.database import acquired
from orderflow_contracts.money import Money

from orderflow_payment.adapters.own_connections import OwnConnections
from orderflow_payment.domain.providers import (
    Authorise,
    Capture,
    PaymentProvider,
    ProviderCall,
    ProviderCallJournal,
    ProviderKeyReused,
    ProviderResult,
    Refund,
    Void,
)


class SqlProviderCallJournal:
    """The journal in the payment schema, on connections of its own (autocommit)."""

    def __init__(self, database_url: str, *, schema: str, pool_size: int = 2) -> None:
        self._own = OwnConnections(
            database_url,
            schema=schema,
            application_name="orderflow-payment-provider-calls",
            size=pool_size,
        )
        self._schema = self._own.schema

    async def close(self) -> None:
        await self._own.close()

    async def _connections(self) -> asyncpg.Pool:
        return await self._own.pool()

    async def record(self, call: ProviderCall) -> ProviderCall | None:
        # One statement: the row is added, or the one written first is returned (the select
        # sees the table as it was before the insert).
        async with acquired(await self._connections()) as connection:
            row = await connection.fetchrow(
                f"""
                WITH added AS (
                    INSERT INTO {self._schema}.provider_calls (idempotency_key, operation,
                        order_id, parent_reference, amount, currency)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (idempotency_key) DO NOTHING
                    RETURNING 1
                )
                SELECT operation, order_id, parent_reference, amount, currency
                FROM {self._schema}.provider_calls
                WHERE idempotency_key = $1 AND NOT EXISTS (SELECT 1 FROM added)
                """,
                call.idempotency_key,
                call.operation,
                call.order_id,
                call.parent_reference,
                call.amount.amount,
                call.amount.currency.value,
            )
        if row is None:
            return None
        amount: Decimal = row["amount"]
        return ProviderCall(
            call.idempotency_key,
            row["operation"],
            row["order_id"],
            row["parent_reference"],
            Money.of(amount, row["currency"]),
        )

    async def called(self, idempotency_key: str) -> bool:
        async with acquired(await self._connections()) as connection:
            found = await connection.fetchval(
                f"SELECT true FROM {self._schema}.provider_calls WHERE idempotency_key = $1",
                idempotency_key,
            )
        return bool(found)


class JournaledProvider:
    """``provider``, each call written in ``journal`` before it is made."""

    def __init__(self, provider: PaymentProvider, journal: ProviderCallJournal) -> None:
        self._provider = provider
        self._journal = journal

    @property
    def name(self) -> str:
        return self._provider.name

    async def _written_down(self, call: ProviderCall) -> None:
        earlier = await self._journal.record(call)
        if earlier is not None and earlier != call:
            raise ProviderKeyReused(earlier, call)

    async def authorise(self, request: Authorise) -> ProviderResult:
        await self._written_down(ProviderCall.of("authorise", request))
        return await self._provider.authorise(request)

    async def capture(self, request: Capture) -> ProviderResult:
        await self._written_down(ProviderCall.of("capture", request))
        return await self._provider.capture(request)

    async def void(self, request: Void) -> ProviderResult:
        await self._written_down(ProviderCall.of("void", request))
        return await self._provider.void(request)

    async def refund(self, request: Refund) -> ProviderResult:
        await self._written_down(ProviderCall.of("refund", request))
        return await self._provider.refund(request)
