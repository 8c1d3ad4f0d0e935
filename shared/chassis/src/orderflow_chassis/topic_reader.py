"""Reading topics as an auditor does: no consumer group, so nobody's offsets move."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options


async def read_to_end(
    bootstrap_servers: str, topic_names: Sequence[str], security: KafkaSecurity | None = None
) -> list[ConsumerRecord]:
    """Every record on ``topic_names`` up to their current end, in (topic, partition, offset)
    order. Missing topics are skipped.

    Partitions come from the admin client: a group-less consumer's own metadata lists only
    topics it subscribed to, so asking it would find nothing to read.
    """
    security = security or KafkaSecurity.from_environment()
    partitions = await topic_partitions(bootstrap_servers, topic_names, security)
    assigned = [
        TopicPartition(name, number) for name, numbers in partitions.items() for number in numbers
    ]
    if not assigned:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        # What the services apply: a transactional producer's aborted records are not events.
        isolation_level="read_committed",
        **kafka_client_options(security),
    )
    await consumer.start()
    try:
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end_offsets = await consumer.end_offsets(assigned)
        pending = {tp for tp in assigned if end_offsets[tp] > 0}
        records: list[ConsumerRecord] = []
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            if not batch:
                break
            for tp, found in batch.items():
                records.extend(found)
                if found and found[-1].offset + 1 >= end_offsets[tp]:
                    pending.discard(tp)
        return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        await stop_consumer(consumer)


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer, group-less ones included.

    aiokafka#647: a group-less consumer stopped before its internal task ran raises
    CancelledError from ``stop()``; one turn of the loop lets the task start first.
    """
    await asyncio.sleep(0)
    await consumer.stop()
