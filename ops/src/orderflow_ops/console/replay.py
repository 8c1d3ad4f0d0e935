"""Replaying dead letters from the console, audited, and learning what became of them.

Publishing is the chassis' (``orderflow-dlq``'s :func:`publish_replays`: the original value,
key and headers back to the original topic, with ``replayed_from``). Each letter sent gets an
audit row (who, when, what was asked, where the record landed). Its outcome is then learnt
from what the console already watches: *applied* once the consumer group that dead-lettered it
has committed past the replayed record; *dead_lettered_again* when a dead letter naming it in
``replayed_from`` arrives from that group (checked for a while after *applied* too, since the
group's offset commit and its relay's publishing of the new dead letter come in either order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from orderflow_chassis.dlq_cli import StoredDeadLetter, publish_replays

from orderflow_ops.console.auth import Session
from orderflow_ops.console.kafka_clients import kafka_client
from orderflow_ops.console.live import PartitionLag

OUTCOME_WATCH = timedelta(hours=1)


@dataclass(frozen=True)
class ReplayResult:
    sent: int
    audit_ids: list[int]


async def replay_letters(
    pool: asyncpg.Pool,
    schema: str,
    bootstrap_servers: str,
    chosen: Sequence[tuple[str, str, StoredDeadLetter]],
    *,
    session: Session,
    selection: str,
    now: datetime,
) -> ReplayResult:
    """Publish ``chosen`` (dlq topic, consumer, letter) back, auditing each one sent."""
    producer = kafka_client(
        AIOKafkaProducer,
        bootstrap_servers,
        client_id="console-replay",
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    audit_ids: list[int] = []
    try:
        for dlq_topic, consumer, letter in chosen:
            (landed,) = await publish_replays(producer, [letter], dlq_topic)
            audit_ids.append(
                await pool.fetchval(
                    f"""
                    INSERT INTO {schema}.replay_audit (requested_at, requested_by, role,
                        selection, dlq_topic, dlq_partition, dlq_offset, event_id,
                        target_topic, target_partition, target_offset, consumer)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id
                    """,
                    now,
                    session.name,
                    session.role.value,
                    selection,
                    dlq_topic,
                    letter.partition,
                    letter.offset,
                    letter.event_id,
                    landed.topic,
                    landed.partition,
                    landed.offset,
                    consumer,
                )
            )
    finally:
        await producer.stop()
    return ReplayResult(len(audit_ids), audit_ids)


async def track_outcomes(
    pool: asyncpg.Pool, schema: str, lag: Sequence[PartitionLag], now: datetime
) -> int:
    """Record the outcome of recent replays; how many changed."""
    s = schema
    again = await pool.fetch(
        f"""
        UPDATE {s}.replay_audit a SET outcome = 'dead_lettered_again', outcome_at = $1,
            outcome_detail = d.error_code || ': ' || d.reason
        FROM {s}.dead_letters d
        WHERE a.outcome IN ('sent', 'applied') AND a.requested_at > $2
          AND d.replayed_from = a.dlq_topic || ':' || a.dlq_partition || ':' || a.dlq_offset
          AND d.consumer = a.consumer AND d.failed_at >= a.requested_at
        RETURNING a.id
        """,
        now,
        now - OUTCOME_WATCH,
    )
    committed = {(p.group, p.topic, p.partition): p.committed for p in lag}
    applied = [
        row["id"]
        for row in await pool.fetch(
            f"""
            SELECT id, consumer, target_topic, target_partition, target_offset
            FROM {s}.replay_audit WHERE outcome = 'sent' AND requested_at > $1
            """,
            now - OUTCOME_WATCH,
        )
        if committed.get((row["consumer"], row["target_topic"], row["target_partition"]), -1)
        > row["target_offset"]
    ]
    if applied:
        await pool.execute(
            f"""
            UPDATE {s}.replay_audit SET outcome = 'applied', outcome_at = $2,
                outcome_detail = consumer || ' committed past the replayed record'
            WHERE id = ANY($1::bigint[]) AND outcome = 'sent'
            """,
            applied,
            now,
        )
    return len(again) + len(applied)
