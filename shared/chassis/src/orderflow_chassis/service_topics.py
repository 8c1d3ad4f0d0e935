"""A service's topics at start: all must exist before the relay and the consumers start.

A missing topic would otherwise stall the relay at its first event for it (a dead-letter topic,
typically) or leave a consumer waiting forever, with nothing saying why. So the service always
checks (it never relies on the broker's auto-creation): in development it first creates what is
missing, as declared in the topics file but with few partitions and replication capped at the
broker count; in production (or with ``KAFKA_CREATE_TOPICS=false``) it refuses to start,
listing the missing topics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient

from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options
from orderflow_chassis.topic_catalog import TopicCatalog
from orderflow_chassis.topic_provisioning import (
    broker_count,
    create_topics,
    live_topics,
    plan_topics,
)

log = structlog.get_logger(__name__)


class ServiceTopicsError(RuntimeError):
    """The service's topics are not fit to start on (named in the message)."""


class MissingTopicsError(ServiceTopicsError):
    """Topics the service uses do not exist, and it may not create them."""

    def __init__(self, service: str, bootstrap_servers: str, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        listed = "\n".join(f"  - {name}" for name in self.missing)
        super().__init__(
            f"{service}: {len(self.missing)} topic(s) it uses do not exist on Kafka at "
            f"{bootstrap_servers}:\n{listed}\n"
            "Create them with `orderflow-topics apply` (from deploy/topics.yaml; the "
            "Kubernetes manifests declare them as KafkaTopics). Services create topics "
            "themselves only in development (KAFKA_CREATE_TOPICS)."
        )


class UnderReplicatedTopicsError(ServiceTopicsError):
    """Topics exist with fewer replicas than the production profile requires."""

    def __init__(self, service: str, weak: Mapping[str, int], minimum: int) -> None:
        self.weak = dict(weak)
        listed = "\n".join(f"  - {name}: {replicas}" for name, replicas in sorted(weak.items()))
        super().__init__(
            f"{service}: {len(weak)} topic(s) it uses have fewer than {minimum} replicas on "
            f"the broker:\n{listed}\n"
            "One broker lost could lose acknowledged events. Raise their replication "
            "(kafka-reassign-partitions.sh) or recreate them with `orderflow-topics apply`."
        )


async def ensure_service_topics(
    *,
    service: str,
    bootstrap_servers: str,
    names: Sequence[str],
    topic_prefix: str,
    catalog: TopicCatalog,
    create_missing: bool,
    development_partitions: int,
    minimum_replication: int = 1,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Check that every topic of ``names`` (real names) exists; create the missing ones when
    ``create_missing``, else raise :class:`MissingTopicsError`. Existing topics with fewer
    replicas than ``minimum_replication`` raise :class:`UnderReplicatedTopicsError`. Returns
    the topics created."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, **kafka_client_options(security)
    )
    await admin.start()
    try:
        existing = await live_topics(admin, wanted, with_configs=False)
        missing = [name for name in wanted if name not in existing]
        if missing and not create_missing:
            raise MissingTopicsError(service, bootstrap_servers, missing)
        weak = {
            name: topic.replication_factor
            for name, topic in existing.items()
            if topic.replication_factor < minimum_replication
        }
        if weak:
            raise UnderReplicatedTopicsError(service, weak, minimum_replication)
        if not missing:
            return []
        plan = plan_topics(
            [catalog.spec_for(name.removeprefix(topic_prefix)) for name in missing],
            {},
            prefix=topic_prefix,
            broker_count=await broker_count(admin),
            cap_to_brokers=True,
            partitions_override=development_partitions,
        )
        for warning in plan.warnings:
            log.warning("kafka.topics_capped", detail=warning)
        await create_topics(admin, plan.to_create)
        log.info("kafka.topics_created", topics=missing, partitions=development_partitions)
        return missing
    finally:
        await admin.close()
