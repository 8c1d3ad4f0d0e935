"""Test topics of earlier sessions are removed from the local broker (real Kafka)."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.leftover_topics import TEST_TOPIC, delete_test_topics

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("name", "is_a_test_topic"),
    [
        ("test-cart-1a2b3c4d.orders", True),
        ("test.poison.0a1b2c3d4e.dlq", True),
        ("orders", False),
        ("orders.dlq", False),
        ("testing.orders", False),
        ("staging.test.orders", False),
    ],
)
def test_only_names_a_test_gives_its_topics_count_as_test_topics(
    name: str, is_a_test_topic: bool
) -> None:
    assert bool(TEST_TOPIC.match(name)) is is_a_test_topic


async def test_matching_topics_are_deleted_and_the_others_kept(
    orderflow_infrastructure: Infrastructure,
) -> None:
    run = uuid.uuid4().hex[:8]
    doomed, kept = f"test.leftover.{run}", f"keep.leftover.{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=orderflow_infrastructure.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(doomed, 1, 1), NewTopic(kept, 1, 1)])
        # Only this run's names: the session's other test topics are still in use.
        pattern = re.compile(rf"^(test|keep)\.leftover\.{run}$")
        # A new topic reaches the metadata other clients read a moment later (seen on a
        # loaded machine: the deletion found nothing to delete).
        await _until_listed(admin, pattern, {doomed, kept})
        deleted = await delete_test_topics(
            orderflow_infrastructure.kafka_bootstrap_servers,
            re.compile(rf"^test\.leftover\.{run}$"),
        )
        assert deleted == 1
        for _ in range(50):
            remaining = {t for t in await admin.list_topics() if pattern.match(t)}
            if remaining == {kept}:
                break
            await asyncio.sleep(0.1)
        assert remaining == {kept}
        await admin.delete_topics([kept])
    finally:
        await admin.close()


async def _until_listed(
    admin: AIOKafkaAdminClient, pattern: re.Pattern[str], expected: set[str]
) -> None:
    listed: set[str] = set()
    for _ in range(100):
        listed = {t for t in await admin.list_topics() if pattern.match(t)}
        if listed == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"created topics not listed after 10 s: {sorted(listed)}")
