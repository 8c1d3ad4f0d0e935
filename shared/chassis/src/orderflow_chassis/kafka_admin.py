"""Topic administration: create the topics a service reads, and list partitions.

Topics are created explicitly, with the partition count from settings, before consumers start.
FastStream would otherwise create a subscriber's topics with one partition, and a broker's
auto-creation depends on its own defaults; neither should decide how an aggregate's events
spread across partitions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = structlog.get_logger(__name__)

# Kafka's error code for a topic that does not exist (UNKNOWN_TOPIC_OR_PARTITION).
_UNKNOWN_TOPIC = 3


async def ensure_topics(
    bootstrap_servers: str, names: Sequence[str], *, partitions: int, replication_factor: int
) -> None:
    """Create the topics of ``names`` that do not exist yet (existing ones are left as they are)."""
    wanted = sorted(set(names))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set((await topic_partitions_with(admin, wanted)).keys())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return
        # Another instance may create one in between: that is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [NewTopic(name, partitions, replication_factor) for name in missing]
            )
        log.info("kafka.topics_created", topics=missing, partitions=partitions)
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, names: Sequence[str]) -> dict[str, list[int]]:
    """Partition numbers of each existing topic of ``names`` (missing topics are left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return await topic_partitions_with(admin, names)
    finally:
        await admin.close()


async def topic_partitions_with(
    admin: AIOKafkaAdminClient, names: Sequence[str]
) -> dict[str, list[int]]:
    if not names:
        return {}
    described = await admin.describe_topics(list(names))
    return {
        topic["topic"]: sorted(p["partition"] for p in topic["partitions"])
        for topic in described
        if topic.get("error_code") != _UNKNOWN_TOPIC and topic.get("partitions")
    }
