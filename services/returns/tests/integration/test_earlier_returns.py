"""What each earlier RMA of an order takes back, on real PostgreSQL: the authorised units and
the return-by date while its parcel is awaited, what came back once it is received; each with
the time the customer asked for the return, in that order."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.adapters.return_requests import SqlReturnRequests
from orderflow_returns.adapters.rmas import SqlRmas
from orderflow_returns.bootstrap import returns_migrations
from orderflow_returns.domain.identifiers import rma_id_for
from orderflow_returns.domain.returns import EarlierReturn

pytestmark = pytest.mark.integration

BALL, SPLINT = "MB-SPIKY-8CM", "NS-NIGHT-M"
ASKED = datetime(2025, 2, 10, 9, 30, tzinfo=UTC)


async def test_each_rma_lists_its_units_with_the_time_its_return_was_requested(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await connect(
        orderflow_infrastructure.service_database_urls["returns"], schema="returns"
    )
    # The schema as the service makes it: this test may be its worker's first to use it.
    await migrate_service(connection, "returns", returns_migrations())
    order_id = uuid.uuid4()
    later, earlier = rma_id_for(order_id, "ret-later"), rma_id_for(order_id, "ret-earlier")
    try:
        rmas, answers = SqlRmas(connection, "returns"), SqlReturnRequests(connection, "returns")
        async with connection.transaction():
            # Authorised in the other order than asked (the earlier request waited).
            for rma_id, request_id, lines, asked in [
                (later, "ret-later", [(BALL, 2)], ASKED + timedelta(days=5)),
                (earlier, "ret-earlier", [(BALL, 1), (SPLINT, 1)], ASKED),
            ]:
                await rmas.create(
                    rma_id=rma_id,
                    order_id=order_id,
                    request_id=request_id,
                    correlation_id="journey",
                    reason="Too hard for my feet",
                    lines=lines,
                    authorised_at=ASKED + timedelta(days=6),
                    return_by=date(2025, 3, 2),
                )
                await answers.record(
                    order_id,
                    request_id,
                    outcome="authorised",
                    rma_id=rma_id,
                    requested_at=asked,
                    decided_at=ASKED + timedelta(days=6),
                )
            await answers.record(
                order_id,
                "ret-refused",
                outcome="rejected",
                reason_code="unknown_sku",
                requested_at=ASKED,
                decided_at=ASKED,
            )
            # The earlier RMA's parcel held the ball only: its splint is no longer taken back.
            await rmas.record_parcel(
                earlier,
                warehouse_id="EU-1",
                received_at=ASKED + timedelta(days=8),
                received={BALL: 1},
                damaged={},
                authorised={BALL: 1, SPLINT: 1},
            )

        assert await rmas.earlier_returns(order_id) == [
            EarlierReturn(BALL, 1, ASKED),
            EarlierReturn(BALL, 2, ASKED + timedelta(days=5), parcel_due_by=date(2025, 3, 2)),
        ]
        assert await rmas.earlier_returns(uuid.uuid4()) == []
    finally:
        await connection.close()
