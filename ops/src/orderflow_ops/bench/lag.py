"""How far behind each consumer group of a run is: the end offset of each partition it
committed, less its committed offset. The services commit only the offsets of batches whose
database transaction committed (at most once a second while records keep coming, and at once
when a consumer goes idle), so zero lag everywhere means every record was applied.

A phase ends when the system is quiet again, not when its last order completed: consumers
off the order's critical path (returns reading every order event, for one) may still be
working through the backlog then, and that work is part of what the orders cost.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options
from orderflow_chassis.topic_reader import stop_consumer


def lag_by_group(
    committed: Mapping[str, Mapping[TopicPartition, int]], end_offsets: Mapping[TopicPartition, int]
) -> dict[str, int]:
    """Records each group has yet to apply, over the partitions it committed."""
    return {
        group: sum(max(0, end_offsets.get(tp, offset) - offset) for tp, offset in offsets.items())
        for group, offsets in committed.items()
    }


class LagProbe:
    """The lag of every consumer group whose id starts with the run's prefix."""

    def __init__(self, bootstrap_servers: str, group_prefix: str) -> None:
        self._prefix = group_prefix
        security = KafkaSecurity.from_environment()
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, **kafka_client_options(security)
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            enable_auto_commit=False,
            **kafka_client_options(security),
        )

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        await self._admin.close()
        await stop_consumer(self._consumer)

    async def lag(self) -> dict[str, int]:
        groups = sorted(
            group
            for group, *_ in await self._admin.list_consumer_groups()
            if str(group).startswith(self._prefix)
        )
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        partitions = sorted({tp for offsets in committed.values() for tp in offsets})
        end_offsets = await self._consumer.end_offsets(partitions) if partitions else {}
        return lag_by_group(committed, end_offsets)
