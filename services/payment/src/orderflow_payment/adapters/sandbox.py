"""The SANDBOX payment provider: behaves like a real one, deterministically, by test token.

It is the default in development and tests (real provider APIs cannot be reached from here).
Like a real provider it

* answers by token: approve, decline with a reason, flag fraud, fail transiently (a 503 before
  doing anything, or a timeout *after* doing the work, as real timeouts do), refuse refunds;
* is idempotent: a repeated idempotency key returns the original answer and moves nothing;
* refuses impossible requests (capturing a voided authorisation, refunding more than captured);
* keeps its own record of every request and every operation, in the ``sandbox_*`` tables,
  written on its OWN database connections and committed independently of the payment
  service's transactions (as a remote provider's record would be), so that reconciliation
  compares the service against an independent source.

Test tokens (the part after ``tok_<method>_``; see the README for the table):
``approve`` (or anything unlisted), ``decline_insufficient_funds``, ``decline_do_not_honour``,
``decline_expired_card``, ``fraud``, ``timeout_N``, ``5xx_N``, ``unavailable``,
``refund_refused``, ``invalid``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from orderflow_chassis.database import Connection, create_pool
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.money import Money

from orderflow_payment.adapters.sandbox_behaviours import (
    DECLINES,
    MESSAGES,
    behaviour_of,
    failing_attempts,
    sandbox_reference,
)
from orderflow_payment.domain.providers import (
    Authorise,
    Capture,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Refund,
    Void,
)
from orderflow_payment.domain.tokens import mask_token

log = structlog.get_logger(__name__)

SANDBOX = "sandbox"


@dataclass(frozen=True)
class _Parent:
    reference: str
    operation: str
    outcome: str
    behaviour: str
    amount_minor: int
    currency: str
    method: str


@dataclass(frozen=True)
class _Operation:
    """An operation the sandbox did, as its ``sandbox_operations`` row records it."""

    reference: str
    request_key: str
    operation: str
    parent: str | None
    order: str
    method: str
    behaviour: str
    token_masked: str | None
    amount: Money
    decline_code: str | None

    def row(self) -> tuple[object, ...]:
        return (
            self.reference,
            self.request_key,
            self.operation,
            self.parent,
            self.order,
            self.method,
            self.behaviour,
            self.token_masked,
            self.amount.currency.value,
            self.amount.minor_units,
            "declined" if self.decline_code else "approved",
            self.decline_code,
        )


Perform = Callable[[Connection, str], Awaitable[tuple[ProviderResult, _Operation]]]


class SandboxProvider:
    """A provider that lives in the payment schema's ``sandbox_*`` tables."""

    def __init__(
        self, database_url: str, *, schema: str, latency_ms: int = 0, pool_size: int = 4
    ) -> None:
        self._dsn = database_url
        self._schema = validate_identifier(schema)
        self._latency_s = latency_ms / 1000
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def close(self) -> None:
        """Close the sandbox's own connections (the service does at stop)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _connections(self) -> asyncpg.Pool:
        # The sandbox's record is written on its own connections, committed independently of
        # the service's transaction; they are pooled (opening one per call cost ~12 ms and a
        # backend process each, twice per order) and opened on first use.
        async with self._opening:
            if self._pool is None:
                self._pool = await create_pool(
                    self._dsn,
                    schema=self._schema,
                    application_name="orderflow-payment-sandbox",
                    min_size=1,
                    max_size=self._pool_size,
                )
            return self._pool

    @property
    def name(self) -> str:
        return SANDBOX

    # ------------------------------------------------------------------ the port

    async def authorise(self, request: Authorise) -> ProviderResult:
        behaviour = behaviour_of(request.token)

        async def perform(connection: Connection, _: str) -> tuple[ProviderResult, _Operation]:
            decline = DECLINES.get(behaviour)
            reference = sandbox_reference("authorise", request.idempotency_key)
            done = _Operation(
                reference=reference,
                request_key=request.idempotency_key,
                operation="authorise",
                parent=None,
                order=str(request.order_id),
                method=request.method,
                behaviour=behaviour,
                token_masked=mask_token(request.token),
                amount=request.amount,
                decline_code=decline[0] if decline else None,
            )
            if decline:
                return ProviderResult.decline(decline[0], decline[1], reference), done
            return ProviderResult.approve(reference), done

        return await self._call("authorise", request.idempotency_key, lambda _: behaviour, perform)

    async def capture(self, request: Capture) -> ProviderResult:
        return await self._child_operation(
            "capture",
            request.idempotency_key,
            request.authorisation_reference,
            str(request.order_id),
            request.amount,
        )

    async def void(self, request: Void) -> ProviderResult:
        return await self._child_operation(
            "void",
            request.idempotency_key,
            request.authorisation_reference,
            str(request.order_id),
            request.amount,
        )

    async def refund(self, request: Refund) -> ProviderResult:
        return await self._child_operation(
            "refund",
            request.idempotency_key,
            request.capture_reference,
            str(request.order_id),
            request.amount,
        )

    # ------------------------------------------------------------------ internals

    async def _child_operation(
        self, operation: str, key: str, parent_reference: str, order: str, amount: Money
    ) -> ProviderResult:
        parent_holder: list[_Parent] = []

        async def behaviour(connection: Connection) -> str:
            parent = await self._parent(connection, parent_reference)
            parent_holder.append(parent)
            return parent.behaviour

        async def perform(
            connection: Connection, behaviour: str
        ) -> tuple[ProviderResult, _Operation]:
            parent = parent_holder[0]
            await self._check_child(connection, operation, parent, amount)
            reference = sandbox_reference(operation, key)
            decline: tuple[str, str] | None = None
            if operation == "refund":
                refunded = await connection.fetchval(
                    f"""
                    SELECT coalesce(sum(amount_minor), 0)::bigint
                    FROM {self._schema}.sandbox_operations
                    WHERE parent_reference = $1 AND operation = 'refund' AND outcome = 'approved'
                    """,
                    parent.reference,
                )
                if behaviour == "refund_refused":
                    decline = ("provider_refused", MESSAGES["provider_refused"])
                elif refunded + amount.minor_units > parent.amount_minor:
                    decline = ("exceeds_captured", MESSAGES["exceeds_captured"])
            done = _Operation(
                reference=reference,
                request_key=key,
                operation=operation,
                parent=parent.reference,
                order=order,
                method=parent.method,
                behaviour=behaviour,
                token_masked=None,
                amount=amount,
                decline_code=decline[0] if decline else None,
            )
            if decline:
                return ProviderResult.decline(decline[0], decline[1], reference), done
            return ProviderResult.approve(reference), done

        return await self._call(operation, key, behaviour, perform)

    async def _call(
        self,
        operation: str,
        key: str,
        behaviour: Callable[[Connection], Awaitable[str] | str],
        perform: Perform,
    ) -> ProviderResult:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        pool = await self._connections()
        failure: Exception | None = None
        result: ProviderResult | None = None
        done: _Operation | None = None
        async with pool.acquire() as connection, connection.transaction():
            # Requests with one key are handled one at a time, as a provider does.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext('orderflow.sandbox'), hashtext($1))",
                key,
            )
            # The attempt's number and the operation a previous attempt did, in one round trip
            # (both only change under the lock just taken).
            seen = await connection.fetchrow(
                f"""
                SELECT (SELECT count(*) FROM {self._schema}.sandbox_requests
                        WHERE idempotency_key = $1) AS attempts,
                       o.reference, o.outcome, o.decline_code
                FROM (VALUES (1)) AS one
                LEFT JOIN {self._schema}.sandbox_operations AS o ON o.idempotency_key = $1
                """,
                key,
            )
            assert seen is not None
            attempt = 1 + seen["attempts"]
            try:
                found = behaviour(connection)
                chosen = found if isinstance(found, str) else await found
                mode, failures = failing_attempts(chosen)
                if mode == "unavailable" and attempt <= failures:
                    response = "unavailable"
                    failure = ProviderUnavailable("http_503", "sandbox answered 503")
                else:
                    existing = _operation_done(seen)
                    if existing is not None:
                        result, response = existing, "replayed"
                    else:
                        result, done = await perform(connection, chosen)
                        response = "approved" if result.approved else "declined"
                    if mode == "timeout" and attempt <= failures:
                        # The work is done and recorded; only the answer is lost.
                        response = "timeout"
                        failure = ProviderUnavailable("timeout", "sandbox did not answer")
            except ProviderRejected as rejected:
                response, failure = "rejected", rejected
            await self._record(connection, (key, operation, attempt, response), done)
        log.debug(
            "sandbox.request", operation=operation, key=key, attempt=attempt, response=response
        )
        if failure is not None:
            raise failure
        assert result is not None
        return result

    async def _parent(self, connection: Connection, reference: str) -> _Parent:
        row = await connection.fetchrow(
            f"""
            SELECT reference, operation, outcome, behaviour, amount_minor, currency, method
            FROM {self._schema}.sandbox_operations WHERE reference = $1 FOR UPDATE
            """,
            reference,
        )
        if row is None:
            raise ProviderRejected("unknown_reference", f"no operation {reference}")
        return _Parent(**dict(row))

    async def _check_child(
        self, connection: Connection, operation: str, parent: _Parent, amount: Money
    ) -> None:
        expected = "capture" if operation == "refund" else "authorise"
        if parent.operation != expected or parent.outcome != "approved":
            raise ProviderRejected("invalid_reference", f"{operation} needs an approved {expected}")
        if amount.currency.value != parent.currency.strip():
            raise ProviderRejected("currency_mismatch", f"{operation} in another currency")
        if operation in ("capture", "void"):
            done = await connection.fetchval(
                f"""
                SELECT operation FROM {self._schema}.sandbox_operations
                WHERE parent_reference = $1 AND operation IN ('capture', 'void')
                  AND outcome = 'approved'
                """,
                parent.reference,
            )
            if done is not None:
                raise ProviderRejected(
                    "authorisation_closed", f"the authorisation was already {done}d"
                )
            if amount.minor_units > parent.amount_minor:
                raise ProviderRejected("exceeds_authorised", "more than was authorised")

    async def _record(
        self, connection: Connection, request: tuple[object, ...], done: _Operation | None
    ) -> None:
        """Record the request, and the operation it did if it did one: one round trip."""
        insert_request = f"""
            INSERT INTO {self._schema}.sandbox_requests
                (idempotency_key, operation, attempt, response)
            VALUES ($1, $2, $3, $4)
            """
        if done is None:
            await connection.execute(insert_request, *request)
            return
        try:
            await connection.execute(
                f"""
                WITH operation AS (
                    INSERT INTO {self._schema}.sandbox_operations
                        (reference, idempotency_key, operation, parent_reference,
                         merchant_reference, method, behaviour, token_masked, currency,
                         amount_minor, outcome, decline_code)
                    VALUES ($5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                )
                {insert_request}
                """,
                *request,
                *done.row(),
            )
        except asyncpg.UniqueViolationError as error:  # pragma: no cover - the lock prevents it
            raise ProviderUnavailable("conflict", "concurrent request with the same key") from error


def _operation_done(row: asyncpg.Record) -> ProviderResult | None:
    """The answer a previous attempt with the same key got (``reference`` & co. of its row)."""
    if row["reference"] is None:
        return None
    if row["outcome"] == "approved":
        return ProviderResult.approve(row["reference"])
    code = row["decline_code"]
    message = MESSAGES.get(code, f"declined: {code}")
    return ProviderResult.decline(code or "declined", message, row["reference"])
