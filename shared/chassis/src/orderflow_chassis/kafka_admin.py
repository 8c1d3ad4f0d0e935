"""Topic administration: the topics a service uses, plain creation (benchmarks) and partitions.

Services create or check their topics at start from the declared topics (service_topics.py,
deploy/topics.yaml); ``ensure_topics`` here creates ad-hoc topics with a given partition count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from orderflow_contracts.topics import ALL_TOPICS, DEAD_LETTER_SUFFIX, dead_letter_topic

from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options

log = structlog.get_logger(__name__)

# Kafka's error codes for a topic that does not exist, and one that already does.
_UNKNOWN_TOPIC = 3
_TOPIC_ALREADY_EXISTS = 36


def topics_a_service_uses(topic_prefix: str, subscribed: Iterable[str]) -> list[str]:
    """Every contract topic and every subscribed topic, each with its dead-letter topic.

    A service's definition does not list what it publishes, so all contract topics are
    created: a few idle topics cost less than a relay stuck on a missing one.
    """
    names = {topic_prefix + topic for topic in (*ALL_TOPICS, *subscribed)}
    dead_letters = {dead_letter_topic(n) for n in names if not n.endswith(DEAD_LETTER_SUFFIX)}
    return sorted(names | dead_letters)


async def ensure_topics(
    bootstrap_servers: str,
    names: Sequence[str],
    *,
    partitions: int,
    replication_factor: int,
    security: KafkaSecurity | None = None,
) -> None:
    """Create the topics of ``names`` that do not exist yet (existing ones are left as they are)."""
    wanted = sorted(set(names))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, **kafka_client_options(security)
    )
    await admin.start()
    try:
        existing = set((await topic_partitions_with(admin, wanted)).keys())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor) for name in missing]
        )
        # Another instance may create one in between: that is fine; any other error is not.
        for topic, code, *details in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                message = details[0] if details and details[0] else ""
                raise for_code(code)(f"creating topic {topic!r}: {message}")
        log.info("kafka.topics_created", topics=missing, partitions=partitions)
    finally:
        await admin.close()


async def topic_partitions(
    bootstrap_servers: str, names: Sequence[str], security: KafkaSecurity | None = None
) -> dict[str, list[int]]:
    """Partition numbers of each existing topic of ``names`` (missing topics are left out)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, **kafka_client_options(security)
    )
    try:  # started inside: a start cut short (a caller's timeout) is closed too
        await admin.start()
        return await topic_partitions_with(admin, names)
    finally:
        await admin.close()


async def topic_partitions_with(
    admin: AIOKafkaAdminClient, names: Sequence[str]
) -> dict[str, list[int]]:
    # Only existing topics are described: describing a missing one makes a broker with
    # auto-creation on create it with its own defaults (see topic_provisioning.existing_topics).
    listed = set(await admin.list_topics())
    existing = [name for name in names if name in listed]
    if not existing:
        return {}
    described = await admin.describe_topics(existing)
    return {
        topic["topic"]: sorted(p["partition"] for p in topic["partitions"])
        for topic in described
        if topic.get("error_code") != _UNKNOWN_TOPIC and topic.get("partitions")
    }
