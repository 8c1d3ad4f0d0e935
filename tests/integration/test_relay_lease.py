"""A leader whose publish round outlasts the lease (a slow broker) keeps its lease.

The leader writes its heartbeat every quarter lease rather than every round. A round that
itself lasts longer than the lease must still end with a heartbeat: otherwise the standby sees
a stale heartbeat the moment the round commits and takes the lease from a live leader.

Only the leader LISTENs for the outbox's NOTIFY; a standby that takes over starts to, and is
woken by the next commit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from orderflow_chassis.database import create_pool
from orderflow_chassis.outbox import Outbox, create_producer
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay import AfterPublish, OutboxRelay
from orderflow_localinfra.discovery import Infrastructure

from tests.integration.test_relay_order import SCHEMA, migrated, unsent
from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually

pytestmark = pytest.mark.integration

LEASE_S = 2.0
POLL_S = 5.0  # a relay's poll interval where a prompt publication must come from a NOTIFY


@asynccontextmanager
async def relay_running(
    infrastructure: Infrastructure,
    *,
    poll_interval_s: float,
    after_publish: AfterPublish | None = None,
) -> AsyncIterator[OutboxRelay]:
    async with AsyncExitStack() as stack:
        pool = await create_pool(
            infrastructure.service_database_urls[SCHEMA],
            schema=SCHEMA,
            application_name=f"relay-lease-{uuid.uuid4().hex[:6]}",
        )
        stack.push_async_callback(pool.close)
        producer = create_producer(infrastructure.kafka_bootstrap_servers, client_id="lease")
        await producer.start()
        stack.push_async_callback(producer.stop)
        relay = OutboxRelay(
            pool,
            producer,
            schema=SCHEMA,
            service=SCHEMA,
            poll_interval_s=poll_interval_s,
            lease_s=LEASE_S,
            after_publish=after_publish,
        )
        task = asyncio.create_task(relay.run())

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        stack.push_async_callback(stop)
        yield relay


async def test_a_round_longer_than_the_lease_does_not_lose_the_lease(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-lease.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    connection = await migrated(infrastructure.service_database_urls[SCHEMA])
    slow = asyncio.Event()

    async def slow_round(acknowledged: Sequence[OutboxRow]) -> None:
        if slow.is_set():  # inside the round's transaction, after the broker acknowledged
            slow.clear()
            await asyncio.sleep(LEASE_S * 1.5)

    try:
        # The leader idles between rounds as a production relay does (woken by NOTIFY, else
        # polling each second); the standby looks often.
        async with relay_running(
            infrastructure, poll_interval_s=1.0, after_publish=slow_round
        ) as leader:
            await eventually(lambda: _value(leader.is_leader), bool, timeout_s=30)
            async with relay_running(infrastructure, poll_interval_s=0.05) as standby:
                await asyncio.sleep(LEASE_S)  # the standby has looked and stood by
                assert not standby.is_leader
                slow.set()
                event = cart_item_added(f"cart-lease-{uuid.uuid4().hex[:6]}", sku="SKU-1")
                async with connection.transaction():
                    await Outbox(SCHEMA, producer=SCHEMA).add(
                        connection, event.parse_event(), correlation_id="lease", topic=topic
                    )
                await eventually(lambda: _value(not slow.is_set()), bool, timeout_s=30)
                # The slow round ends; for a whole lease after it, nobody takes over.
                for _ in range(int(LEASE_S * 1.5 / 0.1) + int(LEASE_S / 0.1)):
                    assert not standby.is_leader, "the lease was taken from a live leader"
                    await asyncio.sleep(0.1)
                assert leader.is_leader
    finally:
        await connection.close()


async def test_only_the_leader_listens_and_a_new_leader_is_woken_by_commits(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-listen.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    connection = await migrated(infrastructure.service_database_urls[SCHEMA])
    async with AsyncExitStack() as first_stack, AsyncExitStack() as second_stack:
        first = await first_stack.enter_async_context(
            relay_running(infrastructure, poll_interval_s=30.0)
        )
        await eventually(lambda: _value(first.is_leader and first.listening), bool, timeout_s=30)
        # The second polls every 5 s: published sooner than that, a row was NOTIFY's doing.
        second = await second_stack.enter_async_context(
            relay_running(infrastructure, poll_interval_s=POLL_S)
        )
        await asyncio.sleep(1.0)  # it has contended and stood by
        assert (first.listening, second.listening) == (True, False)

        await first_stack.aclose()  # the leader goes; its lease runs out
        await eventually(lambda: _value(second.is_leader and second.listening), bool, timeout_s=30)
        await asyncio.sleep(1.0)  # its first rounds as leader are done: it waits
        event = cart_item_added(f"cart-listen-{uuid.uuid4().hex[:6]}", sku="SKU-1")
        async with connection.transaction():
            await Outbox(SCHEMA, producer=SCHEMA).add(
                connection, event.parse_event(), correlation_id="listen", topic=topic
            )
        committed = time.monotonic()
        await eventually(lambda: unsent(connection, topic), lambda rows: rows == 0, timeout_s=30)
        assert time.monotonic() - committed < POLL_S / 2, "published by a poll, not a NOTIFY"
    await connection.close()


async def _value(value: bool) -> bool:
    return value


async def test_a_leader_whose_session_the_server_ended_listens_again_on_its_next_session(
    infrastructure: Infrastructure,
) -> None:
    """The server ending the leader's session (a restart, a failover, an operator) must not
    leave it publishing only at its poll interval: its next session LISTENs again."""
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-relisten.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    connection = await migrated(infrastructure.service_database_urls[SCHEMA])
    try:
        async with relay_running(infrastructure, poll_interval_s=POLL_S) as relay:
            await eventually(
                lambda: _value(relay.is_leader and relay.listening), bool, timeout_s=30
            )
            ended = relay.session_pid
            await connection.execute("SELECT pg_terminate_backend($1)", ended)
            await eventually(
                lambda: _value(relay.is_leader and relay.session_pid not in (None, ended)),
                bool,
                timeout_s=30,
            )
            await asyncio.sleep(1.0)  # its first rounds on the new session are done: it waits
            event = cart_item_added(f"cart-relisten-{uuid.uuid4().hex[:6]}", sku="SKU-1")
            async with connection.transaction():
                await Outbox(SCHEMA, producer=SCHEMA).add(
                    connection, event.parse_event(), correlation_id="relisten", topic=topic
                )
            committed = time.monotonic()
            await eventually(
                lambda: unsent(connection, topic), lambda rows: rows == 0, timeout_s=30
            )
            assert time.monotonic() - committed < POLL_S / 2, "published by a poll, not a NOTIFY"
    finally:
        await connection.close()


async def test_a_leader_whose_begin_was_cancelled_publishes_again(
    infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that hits a round's BEGIN leaves asyncpg believing a transaction is open on
    the session (every later round then asks for a SAVEPOINT the server refuses), until the
    session goes back to the pool, whose reset clears that. The relay must not keep such a
    session and stall: it publishes again."""
    kafka = infrastructure.kafka_bootstrap_servers
    topic = f"test.relay-begin.{uuid.uuid4().hex[:10]}"
    await create_topics(kafka, [topic], partitions=1)
    connection = await migrated(infrastructure.service_database_urls[SCHEMA])
    cancel_next_begin: dict[str, int | None] = {"pid": None}
    execute = asyncpg.Connection.execute

    async def execute_or_cancel(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> str:
        if query.startswith("BEGIN") and self.get_server_pid() == cancel_next_begin["pid"]:
            cancel_next_begin["pid"] = None
            raise asyncpg.QueryCanceledError("canceling statement due to user request")
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute_or_cancel)
    try:
        async with relay_running(infrastructure, poll_interval_s=0.2) as relay:
            await eventually(lambda: _value(relay.is_leader), bool, timeout_s=30)
            cancel_next_begin["pid"] = relay.session_pid
            await eventually(lambda: _value(cancel_next_begin["pid"] is None), bool, timeout_s=30)
            event = cart_item_added(f"cart-begin-{uuid.uuid4().hex[:6]}", sku="SKU-1")
            async with connection.transaction():
                await Outbox(SCHEMA, producer=SCHEMA).add(
                    connection, event.parse_event(), correlation_id="begin", topic=topic
                )
            assert (
                await eventually(
                    lambda: unsent(connection, topic), lambda rows: rows == 0, timeout_s=30
                )
                == 0
            ), f"the relay stalled: {relay.last_error}"
    finally:
        await connection.close()
