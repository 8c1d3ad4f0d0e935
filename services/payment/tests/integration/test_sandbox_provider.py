"""The sandbox provider against its own tables: every test token's behaviour, idempotency,
and the refusals a real provider would make."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from orderflow_chassis.database import Connection, connect
from orderflow_chassis.migrations import migrate_service
from orderflow_contracts.money import Money
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.sandbox import SandboxProvider
from orderflow_payment.bootstrap import build_definition
from orderflow_payment.domain.providers import (
    Authorise,
    Capture,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Refund,
    Void,
)

from tests.support.service_harness import service_settings

pytestmark = pytest.mark.integration

EUR = Money.of("50.00", "EUR")


@pytest.fixture
async def sandbox(orderflow_infrastructure: Infrastructure) -> AsyncIterator[SandboxProvider]:
    settings = service_settings(orderflow_infrastructure, "payment", topic_prefix="")
    connection = await connect(settings.database_url, schema="payment")
    provider = SandboxProvider(settings.database_url, schema="payment")
    try:
        await migrate_service(connection, "payment", build_definition(settings).migrations)
        started = await connection.fetchval("SELECT max(request_id) FROM sandbox_requests")
        yield provider
    finally:
        await provider.close()  # its own pool, opened by the first call
        # These calls did not come from the service (nothing recorded them on its side):
        # remove them, or every later reconciliation would rightly report them.
        await connection.execute(
            """
            DELETE FROM sandbox_operations WHERE idempotency_key IN (
                SELECT idempotency_key FROM sandbox_requests WHERE request_id > $1)
            """,
            started or 0,
        )
        await connection.execute("DELETE FROM sandbox_requests WHERE request_id > $1", started or 0)
        await connection.close()


@pytest.fixture
async def sandbox_tables(orderflow_infrastructure: Infrastructure) -> AsyncIterator[Connection]:
    """A connection of the test's own, to read the sandbox's record."""
    settings = service_settings(orderflow_infrastructure, "payment", topic_prefix="")
    connection = await connect(settings.database_url, schema="payment")
    try:
        yield connection
    finally:
        await connection.close()


async def authorise(sandbox: SandboxProvider, token: str) -> tuple[uuid.UUID, ProviderResult]:
    order_id = uuid.uuid4()
    result = await sandbox.authorise(
        Authorise(f"authorise:{order_id}", order_id, EUR, "visa", token)
    )
    return order_id, result


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_visa_decline_insufficient_funds", "insufficient_funds"),
        ("tok_visa_decline_do_not_honour", "do_not_honour"),
        ("tok_visa_decline_expired_card", "expired_card"),
        ("tok_paypal_fraud", "fraud_suspected"),
        ("tok_visa_invalid", "invalid_token"),
    ],
)
async def test_declining_tokens(sandbox: SandboxProvider, token: str, code: str) -> None:
    _, result = await authorise(sandbox, token)
    assert (result.approved, result.decline_code) == (False, code)
    assert result.reference is not None
    assert result.reference.startswith("sbx_auth_")


async def test_approve_capture_refund_and_idempotent_replays(sandbox: SandboxProvider) -> None:
    order_id, authorised = await authorise(sandbox, "tok_mastercard_approve")
    assert authorised.approved
    assert authorised.reference is not None
    again = await sandbox.authorise(
        Authorise(f"authorise:{order_id}", order_id, EUR, "visa", "tok_mastercard_approve")
    )
    assert again == authorised, "same key, same answer"
    capture = Capture(f"capture:{order_id}", order_id, authorised.reference, EUR)
    captured = await sandbox.capture(capture)
    assert captured.approved
    assert await sandbox.capture(capture) == captured
    assert captured.reference is not None
    first = await sandbox.refund(
        Refund(f"refund:{order_id}:1", order_id, captured.reference, Money.of("30.00", "EUR"))
    )
    over = await sandbox.refund(
        Refund(f"refund:{order_id}:2", order_id, captured.reference, Money.of("20.01", "EUR"))
    )
    assert first.approved
    assert (over.approved, over.decline_code) == (False, "exceeds_captured")
    with pytest.raises(ProviderRejected) as void_after_capture:
        await sandbox.void(Void(f"void:{order_id}", order_id, authorised.reference, EUR))
    assert void_after_capture.value.code == "authorisation_closed"


async def test_capture_after_void_and_unknown_references_are_refused(
    sandbox: SandboxProvider,
) -> None:
    order_id, authorised = await authorise(sandbox, "tok_visa_approve")
    assert authorised.reference is not None
    voided = await sandbox.void(Void(f"void:{order_id}", order_id, authorised.reference, EUR))
    assert voided.approved
    with pytest.raises(ProviderRejected) as closed:
        await sandbox.capture(Capture(f"capture:{order_id}", order_id, authorised.reference, EUR))
    with pytest.raises(ProviderRejected) as unknown:
        await sandbox.capture(Capture(f"capture:{uuid.uuid4()}", order_id, "sbx_auth_nope", EUR))
    assert (closed.value.code, unknown.value.code) == ("authorisation_closed", "unknown_reference")


async def test_transient_tokens_fail_the_first_attempts_then_succeed(
    sandbox: SandboxProvider,
) -> None:
    order_id = uuid.uuid4()
    request = Authorise(f"authorise:{order_id}", order_id, EUR, "visa", "tok_visa_5xx_2")
    kinds = []
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as failure:
            await sandbox.authorise(request)
        kinds.append(failure.value.kind)
    assert kinds == ["http_503", "http_503"]
    assert (await sandbox.authorise(request)).approved

    timeout_order = uuid.uuid4()
    timing_out = Authorise(
        f"authorise:{timeout_order}", timeout_order, EUR, "visa", "tok_visa_timeout_1"
    )
    with pytest.raises(ProviderUnavailable) as timeout:
        await sandbox.authorise(timing_out)
    assert timeout.value.kind == "timeout"
    assert (await sandbox.authorise(timing_out)).approved


async def test_refund_refused_token(sandbox: SandboxProvider) -> None:
    order_id, authorised = await authorise(sandbox, "tok_visa_refund_refused")
    assert authorised.reference is not None
    captured = await sandbox.capture(
        Capture(f"capture:{order_id}", order_id, authorised.reference, EUR)
    )
    assert captured.reference is not None
    refused = await sandbox.refund(Refund(f"refund:{order_id}", order_id, captured.reference, EUR))
    assert (refused.approved, refused.decline_code) == (False, "provider_refused")


async def assert_done_once(sandbox_tables: Connection, key: str, requests: int) -> None:
    attempts = await sandbox_tables.fetch(
        "SELECT attempt, response FROM sandbox_requests WHERE idempotency_key = $1", key
    )
    operations = await sandbox_tables.fetchval(
        "SELECT count(*) FROM sandbox_operations WHERE idempotency_key = $1", key
    )
    assert sorted(row["attempt"] for row in attempts) == list(range(1, requests + 1))
    assert sorted(row["response"] for row in attempts) == ["approved"] + ["replayed"] * (
        requests - 1
    )
    assert operations == 1


async def test_concurrent_requests_with_one_key_do_the_work_once(
    sandbox: SandboxProvider, sandbox_tables: Connection
) -> None:
    # An authorisation has no parent row to queue on: only the key's lock orders these.
    order_id = uuid.uuid4()
    request = Authorise(f"authorise:{order_id}", order_id, EUR, "visa", "tok_visa_approve")
    authorisations = await asyncio.gather(*(sandbox.authorise(request) for _ in range(8)))
    assert authorisations[0].approved
    assert authorisations[0].reference is not None
    assert all(answer == authorisations[0] for answer in authorisations), "one, replayed"
    await assert_done_once(sandbox_tables, request.idempotency_key, 8)

    capture = Capture(f"capture:{order_id}", order_id, authorisations[0].reference, EUR)
    captures = await asyncio.gather(*(sandbox.capture(capture) for _ in range(8)))
    assert captures[0].approved
    assert all(answer == captures[0] for answer in captures), "one operation, replayed"
    await assert_done_once(sandbox_tables, capture.idempotency_key, 8)


async def test_a_capture_and_a_void_at_once_close_the_authorisation_once(
    sandbox: SandboxProvider,
) -> None:
    for _ in range(5):
        order_id, authorised = await authorise(sandbox, "tok_visa_approve")
        assert authorised.reference is not None
        answers = await asyncio.gather(
            sandbox.capture(Capture(f"capture:{order_id}", order_id, authorised.reference, EUR)),
            sandbox.void(Void(f"void:{order_id}", order_id, authorised.reference, EUR)),
            return_exceptions=True,
        )
        approved = [a for a in answers if isinstance(a, ProviderResult) and a.approved]
        refused = [a for a in answers if isinstance(a, ProviderRejected)]
        assert len(approved) == 1, answers
        assert [r.code for r in refused] == ["authorisation_closed"], answers


async def test_refunds_at_once_never_exceed_the_capture(sandbox: SandboxProvider) -> None:
    for _ in range(5):
        order_id, authorised = await authorise(sandbox, "tok_visa_approve")
        assert authorised.reference is not None
        captured = await sandbox.capture(
            Capture(f"capture:{order_id}", order_id, authorised.reference, EUR)
        )
        assert captured.reference is not None
        reference = captured.reference
        answers = await asyncio.gather(
            *(
                sandbox.refund(Refund(f"refund:{order_id}:{n}", order_id, reference, EUR))
                for n in range(4)
            )
        )
        assert sorted(answer.approved for answer in answers) == [False, False, False, True]
        assert {a.decline_code for a in answers if not a.approved} == {"exceeds_captured"}
