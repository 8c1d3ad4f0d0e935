"""Which checkout rejection a cart shows: the one the cart numbered last, whatever the clocks
of the instances that emitted them said (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from orderflow_cart.order_status.adapters.statuses import OrderStatusRepository

from services.cart.tests.integration.conftest import SCHEMA

pytestmark = pytest.mark.integration

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def record(
    repository: OrderStatusRepository,
    cart_id: str,
    code: str,
    *,
    at: datetime,
    sequence: int | None,
) -> None:
    await repository.record_checkout_rejection(
        cart_id,
        [{"code": code, "message": code}],
        at=at,
        event_id=uuid.uuid4(),
        checkout_event_id=f"checkout-{code}",
        sequence=sequence,
    )


async def test_the_rejection_numbered_last_is_kept_though_stamped_earlier(
    connection: asyncpg.Connection,
) -> None:
    # The cart's partition moved to an instance whose clock is a minute behind: its rejection
    # of the second checkout looked older than the first's and was dropped, and the storefront
    # polling for the answer to its second checkout waited for ever.
    repository = OrderStatusRepository(connection, SCHEMA)
    cart_id = f"cart-{uuid.uuid4()}"
    await record(repository, cart_id, "empty_cart", at=NOON, sequence=3)
    await record(repository, cart_id, "invalid_country", at=NOON - timedelta(minutes=1), sequence=5)
    await record(repository, cart_id, "unknown_sku", at=NOON + timedelta(minutes=5), sequence=4)

    shown = await repository.checkout_rejection(cart_id)

    assert shown is not None
    assert [reason["code"] for reason in shown.reasons] == ["invalid_country"]
    assert shown.checkout_event_id == "checkout-invalid_country"


async def test_a_rejection_stored_without_a_number_is_compared_by_time(
    connection: asyncpg.Connection,
) -> None:
    repository = OrderStatusRepository(connection, SCHEMA)
    cart_id = f"cart-{uuid.uuid4()}"
    await record(repository, cart_id, "empty_cart", at=NOON, sequence=None)  # before 0006
    await record(repository, cart_id, "stale", at=NOON - timedelta(seconds=1), sequence=9)
    await record(repository, cart_id, "invalid_country", at=NOON + timedelta(seconds=1), sequence=2)

    shown = await repository.checkout_rejection(cart_id)

    assert shown is not None
    assert [reason["code"] for reason in shown.reasons] == ["invalid_country"]
