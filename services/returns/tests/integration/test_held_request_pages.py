"""The held requests' SQL on real PostgreSQL: due requests come in pages by (end of wait, key),
each after the last, with the read marks they were given (jsonb in and out)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.adapters.held_requests import SqlHeldRequests
from orderflow_returns.bootstrap import returns_migrations
from orderflow_returns.ports import HeldRequest

pytestmark = pytest.mark.integration

# Far in the past: no other test's request (held until now or later) is due before these.
ENDED = datetime(2001, 1, 1, tzinfo=UTC)


async def test_due_requests_come_in_pages_after_the_last_one_with_their_marks(
    orderflow_infrastructure: Infrastructure,
) -> None:
    connection = await connect(
        orderflow_infrastructure.service_database_urls["returns"], schema="returns"
    )
    await migrate_service(connection, "returns", returns_migrations())
    held = SqlHeldRequests(connection, "returns")
    orders = sorted(uuid.uuid4() for _ in range(3))
    try:
        async with connection.transaction():
            for n, order_id in enumerate(orders):
                until = ENDED + timedelta(seconds=n // 2)  # two share an end of wait
                await held.hold(HeldRequest(order_id, "return", f"ret-{n}", "{}", until))
            first = await held.due(ENDED + timedelta(seconds=1), 2)
            await held.mark([first[0][0]], {"orders/0": 7})
            second = await held.due(
                ENDED + timedelta(seconds=1), 2, after=(first[-1][2], first[-1][0])
            )
            again = await held.due(ENDED + timedelta(seconds=1), 1)
            taken = await held.take(*first[0][0])
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await connection.close()

    assert [key[0] for key, _, _ in first] == orders[:2]
    assert [key[0] for key, _, _ in second] == orders[2:]
    assert again[0][1] == {"orders/0": 7}
    assert taken is not None
    assert taken.read_marks == {"orders/0": 7}


class _Rollback(Exception):
    """Leaves nothing behind for the service's own job."""
