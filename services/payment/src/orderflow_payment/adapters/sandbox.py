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
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import structlog
from orderflow_chassis.database import Connection, acquired
from orderflow_contracts.money import Money

from orderflow_payment.adapters.own_connections import OwnConnections
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
    closed_by: str | None  # the approved capture or void of an authorisation, if any
    refunded_minor: int  # approved refunds of a capture so far


@dataclass(frozen=True)
class _Found:
    """What a request found under its key's lock: one ``sandbox_request_reads`` row."""

    attempt: int  # this request's number with its key
    earlier: ProviderResult | None  # the answer of the operation an earlier attempt did
    parent: _Parent | None  # a child operation's parent, row-locked; None if unknown

    @classmethod
    def of(cls, row: asyncpg.Record) -> _Found:
        parent = None
        if row["parent_reference"] is not None:
            parent = _Parent(
                reference=row["parent_reference"],
                operation=row["parent_operation"],
                outcome=row["parent_outcome"],
                behaviour=row["parent_behaviour"],
                amount_minor=row["parent_amount_minor"],
                currency=row["parent_currency"],
                method=row["parent_method"],
                closed_by=row["parent_closed_by"],
                refunded_minor=row["parent_refunded"],
            )
        return cls(attempt=1 + row["attempts"], earlier=_operation_done(row), parent=parent)


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


Behaviour = Callable[[_Found], str]
Perform = Callable[[_Found, str], tuple[ProviderResult, _Operation]]


class SandboxProvider:
    """A provider that lives in the payment schema's ``sandbox_*`` tables."""

    def __init__(
        self, database_url: str, *, schema: str, latency_ms: int = 0, pool_size: int = 4
    ) -> None:
        self._own = OwnConnections(
            database_url,
            schema=schema,
            application_name="orderflow-payment-sandbox",
            size=pool_size,
        )
        self._schema = self._own.schema
        self._latency_s = latency_ms / 1000

    async def close(self) -> None:
        """Close the sandbox's own connections (the service does at stop)."""
        await self._own.close()

    async def _connections(self) -> asyncpg.Pool:
        # The sandbox's record is committed independently of the service's transaction, as
        # a remote provider's would be.
        return await self._own.pool()

    @property
    def name(self) -> str:
        return SANDBOX

    # ------------------------------------------------------------------ the port

    async def authorise(self, request: Authorise) -> ProviderResult:
        behaviour = behaviour_of(request.token)

        def perform(_: _Found, __: str) -> tuple[ProviderResult, _Operation]:
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

        return await self._call(
            "authorise", request.idempotency_key, None, lambda _: behaviour, perform
        )

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
        def behaviour(found: _Found) -> str:
            if found.parent is None:
                raise ProviderRejected("unknown_reference", f"no operation {parent_reference}")
            return found.parent.behaviour

        def perform(found: _Found, behaviour: str) -> tuple[ProviderResult, _Operation]:
            parent = found.parent
            assert parent is not None  # behaviour() refused the request otherwise
            _check_child(operation, parent, amount)
            reference = sandbox_reference(operation, key)
            decline: tuple[str, str] | None = None
            if operation == "refund":
                if behaviour == "refund_refused":
                    decline = ("provider_refused", MESSAGES["provider_refused"])
                elif parent.refunded_minor + amount.minor_units > parent.amount_minor:
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

        return await self._call(operation, key, parent_reference, behaviour, perform)

    async def _call(
        self,
        operation: str,
        key: str,
        parent_reference: str | None,
        behaviour: Behaviour,
        perform: Perform,
    ) -> ProviderResult:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        pool = await self._connections()
        failure: Exception | None = None
        result: ProviderResult | None = None
        done: _Operation | None = None
        async with acquired(pool) as connection, connection.transaction():
            # Requests with one key are handled one at a time, as a provider does: the function
            # takes the key's lock (and the parent's row lock) before it reads.
            row = await connection.fetchrow(
                f"SELECT * FROM {self._schema}.sandbox_request_reads($1, $2)",
                key,
                parent_reference,
            )
            assert row is not None
            found = _Found.of(row)
            attempt = found.attempt
            try:
                chosen = behaviour(found)
                mode, failures = failing_attempts(chosen)
                if mode == "unavailable" and attempt <= failures:
                    response = "unavailable"
                    failure = ProviderUnavailable("http_503", "sandbox answered 503")
                else:
                    if found.earlier is not None:
                        result, response = found.earlier, "replayed"
                    else:
                        result, done = perform(found, chosen)
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


def _check_child(operation: str, parent: _Parent, amount: Money) -> None:
    """The refusals a provider makes of a capture, void or refund of ``parent``."""
    expected = "capture" if operation == "refund" else "authorise"
    if parent.operation != expected or parent.outcome != "approved":
        raise ProviderRejected("invalid_reference", f"{operation} needs an approved {expected}")
    if amount.currency.value != parent.currency.strip():
        raise ProviderRejected("currency_mismatch", f"{operation} in another currency")
    if operation in ("capture", "void"):
        if parent.closed_by is not None:
            raise ProviderRejected(
                "authorisation_closed", f"the authorisation was already {parent.closed_by}d"
            )
        if amount.minor_units > parent.amount_minor:
            raise ProviderRejected("exceeds_authorised", "more than was authorised")


def _operation_done(row: asyncpg.Record) -> ProviderResult | None:
    """The answer a previous attempt with the same key got (``reference`` & co. of its row)."""
    if row["reference"] is None:
        return None
    if row["outcome"] == "approved":
        return ProviderResult.approve(row["reference"])
    code = row["decline_code"]
    message = MESSAGES.get(code, f"declined: {code}")
    return ProviderResult.decline(code or "declined", message, row["reference"])
