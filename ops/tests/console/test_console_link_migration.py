"""Migration 0008 rewrites the stored links of return request and claim ids as
<order_id>:<id> (lower case), and an envelope PostgreSQL cannot read as jsonb does not stop the
console from starting (review, helpers 109 and 111; real PostgreSQL)."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from orderflow_chassis.migrations import chassis_migrations, migrate
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.console.app import console_migrations

pytestmark = pytest.mark.integration


async def test_stored_request_links_are_qualified_by_their_order(
    orderflow_infrastructure: Infrastructure,
) -> None:
    schema = f"console_links_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(orderflow_infrastructure.admin_database_url)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        before = [m for m in console_migrations() if m.version < 8]
        await migrate(connection, schema, [*chassis_migrations(), *before])
        stored = {
            "first": {"order_id": "o-1", "return_request_id": "ret-1"},
            "second": {"order_id": "o-2", "return_request_id": "ret-1"},
            "upper": {"order_id": "O-3", "claim_id": "claim-1"},
            "no order": {"claim_id": "claim-x"},
        }
        ids = {name: uuid.uuid4() for name in [*stored, "unreadable"]}
        texts = {name: json.dumps({"data": data}) for name, data in stored.items()}
        texts["unreadable"] = (
            '{"data": {"order_id": "o-4", "return_request_id": "ret-1", "x": "\\u0000"}}'
        )
        links = [
            ("o-1", "first"), ("ret-1", "first"), ("o-2", "second"), ("ret-1", "second"),
            ("O-3", "upper"), ("claim-1", "upper"), ("claim-x", "no order"),
            ("o-4", "unreadable"), ("ret-1", "unreadable"),
        ]  # fmt: skip
        for name, text in texts.items():
            await connection.execute(
                f"INSERT INTO {schema}.events (event_id, event_type, topic, kafka_partition, "
                "kafka_offset, timestamp_ms, occurred_at, envelope) "
                "VALUES ($1, 'ReturnRequested', 't', 0, 0, 0, now(), $2)",
                ids[name],
                text,
            )
        await connection.executemany(
            f"INSERT INTO {schema}.event_links (linked_id, event_id) VALUES ($1, $2)",
            [(linked, ids[name]) for linked, name in links],
        )

        await migrate(connection, schema, [*chassis_migrations(), *console_migrations()])

        names = {event_id: name for name, event_id in ids.items()}
        rows = await connection.fetch(f"SELECT linked_id, event_id FROM {schema}.event_links")
        assert sorted((row["linked_id"], names[row["event_id"]]) for row in rows) == [
            ("O-3", "upper"),
            ("o-1", "first"),
            ("o-1:ret-1", "first"),
            ("o-2", "second"),
            ("o-2:ret-1", "second"),
            ("o-3:claim-1", "upper"),
            ("o-4", "unreadable"),
            ("ret-1", "unreadable"),  # left as it was: the console still starts
        ]
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()
