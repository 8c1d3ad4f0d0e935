"""`orderflow-payment reconcile`: it passes after the integration tests (this module sorts
last), and fails when a ledger row is corrupted by hand."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import pytest
from orderflow_localinfra.discovery import Infrastructure

from services.payment.tests.builders import order_placed, refund_requested, stock_reserved
from services.payment.tests.harness import PaymentRun, payment_service

pytestmark = pytest.mark.integration


async def reconcile(infrastructure: Infrastructure, *arguments: str) -> tuple[int, str]:
    """Run the real command in its own process, as ops would."""
    environment = {
        **os.environ,
        "PAYMENT_DATABASE_URL": infrastructure.service_database_urls["payment"],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderflow_payment",
        "reconcile",
        "--settle-s",
        "0",
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def refunded_order(run: PaymentRun) -> uuid.UUID:
    order = order_placed(total="80.00")
    await run.publish(order, stock_reserved(order.order_id))
    await run.wait_for_status(order.order_id, "captured")
    await run.publish(refund_requested(order.order_id, "30.00"))
    assert await run.wait_for_status(order.order_id, "partially_refunded") == ("partially_refunded")
    return order.order_id


async def test_reconciliation_passes_after_the_integration_tests(
    orderflow_infrastructure: Infrastructure, payment_session_started_at: datetime
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order_id = await refunded_order(run)
    code, output = await reconcile(
        orderflow_infrastructure, "--since", payment_session_started_at.isoformat()
    )
    assert code == 0, output
    assert output.rstrip().endswith("RECONCILED")
    assert " 0 mismatched" in output

    code, output = await reconcile(orderflow_infrastructure, "--order", str(order_id), "-v")
    assert code == 0, output
    row = next(line for line in output.splitlines() if line.startswith(str(order_id)))
    assert row.split() == [
        str(order_id), "EUR", "partially_refunded", "80.00", "30.00", "50.00", "50.00", "ok"
    ]  # fmt: skip
    assert "1 order(s) checked, 0 mismatched" in output


async def corrupt(
    connection: asyncpg.Connection, order_id: uuid.UUID, account: str, delta: int
) -> Sequence[int]:
    """What only someone bypassing the service could do: edit a ledger row in place."""
    await connection.execute("ALTER TABLE payment.ledger_entries DISABLE TRIGGER USER")
    try:
        rows = await connection.fetch(
            """
            UPDATE payment.ledger_entries SET amount_minor = amount_minor + $3
            WHERE entry_id = (SELECT min(entry_id) FROM payment.ledger_entries
                              WHERE order_id = $1 AND account = $2)
            RETURNING entry_id
            """,
            order_id,
            account,
            delta,
        )
    finally:
        await connection.execute("ALTER TABLE payment.ledger_entries ENABLE TRIGGER USER")
    return [row["entry_id"] for row in rows]


async def test_reconciliation_fails_on_a_ledger_row_corrupted_by_hand(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order_id = await refunded_order(run)
        connection = await asyncpg.connect(
            orderflow_infrastructure.service_database_urls["payment"]
        )
        try:
            # The database itself refuses edits and unbalanced writes...
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await connection.execute(
                    "UPDATE payment.ledger_entries SET amount_minor = 1 WHERE order_id = $1",
                    order_id,
                )
            with pytest.raises(asyncpg.CheckViolationError, match="unbalanced"):
                await connection.execute(
                    """
                    INSERT INTO payment.ledger_entries
                        (transaction_id, order_id, account, currency, amount_minor)
                    SELECT transaction_id, order_id, 'sales', currency, -1
                    FROM payment.ledger_transactions WHERE order_id = $1 LIMIT 1
                    """,
                    order_id,
                )
            # ...so the corruption needs the triggers switched off.
            assert len(await corrupt(connection, order_id, "provider_receivable", 1)) == 1
            try:
                code, output = await reconcile(orderflow_infrastructure, "--order", str(order_id))
            finally:
                await corrupt(connection, order_id, "provider_receivable", -1)
            restored_code, _ = await reconcile(orderflow_infrastructure, "--order", str(order_id))
        finally:
            await connection.close()

    assert code == 1, output
    assert f"{order_id} ledger_mismatch: ledger receivable 5001 != captured 8000" in output
    assert "ledger_unbalanced: EUR entries sum to 1, not 0" in output
    assert output.rstrip().endswith("MISMATCHES: 2")
    assert restored_code == 0
