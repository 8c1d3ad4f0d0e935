"""The journal of provider calls on real PostgreSQL: written before a call, it outlives the
transaction that asked for the call, and tells a key's first request from another one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from orderflow_chassis.database import connect
from orderflow_chassis.migrations import migrate_service
from orderflow_contracts.money import Money
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.adapters.provider_journal import JournaledProvider, SqlProviderCallJournal
from orderflow_payment.bootstrap import build_definition
from orderflow_payment.domain.providers import ProviderCall, ProviderKeyReused, Refund

from services.payment.tests.fake_provider import ScriptedProvider
from tests.support.service_harness import service_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def journal(
    orderflow_infrastructure: Infrastructure,
) -> AsyncIterator[SqlProviderCallJournal]:
    settings = service_settings(orderflow_infrastructure, "payment", topic_prefix="")
    connection = await connect(settings.database_url, schema="payment")
    try:
        await migrate_service(connection, "payment", build_definition(settings).migrations)
    finally:
        await connection.close()
    opened = SqlProviderCallJournal(settings.database_url, schema="payment")
    try:
        yield opened
    finally:
        await opened.close()


def refund_call(order_id: uuid.UUID, amount: str, key: str) -> ProviderCall:
    return ProviderCall(key, "refund", order_id, "cap-1", Money.of(amount, "JPY"))


async def test_a_call_is_kept_and_its_key_answers_with_the_first_request(
    journal: SqlProviderCallJournal,
) -> None:
    key, order_id = f"refund:{uuid.uuid4()}", uuid.uuid4()
    first = refund_call(order_id, "1200", key)

    assert await journal.record(first) is None
    assert await journal.record(first) == first, "read back as written (an exact amount)"
    other = refund_call(uuid.uuid4(), "2500", key)
    assert await journal.record(other) == first, "the first request stays the key's"


async def test_a_provider_is_not_asked_a_key_it_knows_for_another_request(
    journal: SqlProviderCallJournal,
) -> None:
    provider = ScriptedProvider()
    journaled = JournaledProvider(provider, journal)
    refund_id = uuid.uuid4()
    key = f"refund:{refund_id}"
    await journaled.refund(Refund(key, uuid.uuid4(), "cap-a", Money.of("10.00", "EUR")))

    with pytest.raises(ProviderKeyReused) as reused:
        await journaled.refund(Refund(key, uuid.uuid4(), "cap-b", Money.of("25.00", "EUR")))

    assert "10.00 EUR" in reused.value.detail
    assert provider.keys("refund") == [key]
