"""The journal of refund calls (``provider_calls``), and providers that write in it first.

A refund's key is the requester's refund id, which a requester may reuse. A refund call is
written down, and committed on a session of its own, before it is made: the transaction that
records the provider's answer may be lost to a crash after the provider paid, and the journal
still knows which request the key was first sent for. A key asked again for another request
is refused (:class:`~orderflow_payment.domain.providers.ProviderKeyReused`) before it reaches
the provider, which would answer it with the first request's answer (decision 100).

Authorisations, captures and voids are keyed by Orderflow's own ids, for one request each:
they are not written down (a statement before every call cost payment, the pipeline's
bottleneck, about 8 % of its orders per second).
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


class JournaledProvider:
    """``provider``, each refund call written in ``journal`` before it is made."""

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
        return await self._provider.authorise(request)

    async def capture(self, request: Capture) -> ProviderResult:
        return await self._provider.capture(request)

    async def void(self, request: Void) -> ProviderResult:
        return await self._provider.void(request)

    async def refund(self, request: Refund) -> ProviderResult:
        await self._written_down(ProviderCall.of("refund", request))
        return await self._provider.refund(request)
