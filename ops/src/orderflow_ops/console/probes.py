"""Probes of what the console cannot learn from events: consumer-group offsets and lag
(Kafka's admin API), and each service's readiness, relay and outbox (its HTTP port).

Readiness (``/health/ready``) carries the relay's state and the outbox counts, so the
console never asks for a service's whole ``/metrics`` text. A probe that fails keeps its last
result and marks its source stale, so pages say "stale since <time>" instead of failing; a
service that does not answer shows as down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from orderflow_chassis.errors import describe_error
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_chassis.waiting import wait_at_most

from orderflow_ops.console.kafka_clients import kafka_client
from orderflow_ops.console.live import LiveStatus, PartitionLag, ServiceStatus

log = structlog.get_logger(__name__)

_KAFKA_TIMEOUT_S = 10.0  # a broker with thousands of groups lists them slowly
_CLOSE_TIMEOUT_S = 5.0
# Listing every group of the cluster is the probe's costliest request by far on a broker with
# many groups (all decoded in Python): the list is refreshed this often, the offsets each time.
GROUP_LIST_REFRESH_S = 30.0


class LagProbe:
    """Committed offset and end offset of every partition of every group of the system (whose
    id starts with ``group_prefix``)."""

    def __init__(self, bootstrap_servers: str, group_prefix: str) -> None:
        self._bootstrap = bootstrap_servers
        self._prefix = group_prefix
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._groups: list[str] = []
        self._groups_listed_at = float("-inf")
        self._created_at = time.monotonic()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = kafka_client(AIOKafkaAdminClient, self._bootstrap, client_id="console-lag")
            consumer = kafka_client(
                AIOKafkaConsumer, self._bootstrap, enable_auto_commit=False, client_id="console-lag"
            )
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                # Kafka away (or the round timed out): close both, or every failed round
                # while Kafka is away leaves an unclosed client behind.
                await _close_quietly(admin, consumer)
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if admin is not None:
            await admin.close()
        if consumer is not None:
            await stop_consumer(consumer)

    async def read(self) -> list[PartitionLag]:
        try:
            return await wait_at_most(_KAFKA_TIMEOUT_S, self._read())
        except BaseException:
            await self.close()  # start afresh next time: the clients may be wedged
            raise

    async def _read(self) -> list[PartitionLag]:
        admin, consumer = await self._clients()
        now = time.monotonic()
        starting = now - self._created_at < GROUP_LIST_REFRESH_S  # groups still joining
        if starting or now - self._groups_listed_at > GROUP_LIST_REFRESH_S:
            self._groups = sorted(
                str(group)
                for group, *_ in await admin.list_consumer_groups()
                if str(group).startswith(self._prefix)
            )
            self._groups_listed_at = now
        committed: dict[tuple[str, TopicPartition], int] = {}
        for group in self._groups:
            offsets = await admin.list_consumer_group_offsets(group)
            for tp, meta in offsets.items():
                if meta.offset >= 0:
                    committed[(group, tp)] = meta.offset
        partitions = sorted({tp for _, tp in committed})
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return [
            PartitionLag(group, tp.topic, tp.partition, offset, ends.get(tp, offset))
            for (group, tp), offset in sorted(committed.items())
        ]


async def _close_quietly(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
    with contextlib.suppress(Exception):
        await wait_at_most(_CLOSE_TIMEOUT_S, admin.close())
    with contextlib.suppress(Exception):
        await wait_at_most(_CLOSE_TIMEOUT_S, stop_consumer(consumer))


async def probe_service(client: httpx.AsyncClient, name: str, url: str) -> ServiceStatus:
    """Its readiness, with the checks it reports: its relay's state (``leader`` when this
    instance holds the relay lock), the relay's leader, outbox backlog and parked rows."""
    try:
        ready = await client.get(f"{url}/health/ready")
        answer: Any = ready.json() if ready.content else {}
    except (httpx.HTTPError, ValueError, RecursionError) as error:  # JSON nested too deep
        return ServiceStatus(name, url, up=False, ready=False, detail=f"down: {error!r}"[:200])
    # Whatever answers at that address (a proxy, another program) may send any JSON: one that
    # is not an object raised out of the probe, and the console stopped.
    body: dict[str, Any] = answer if isinstance(answer, dict) else {}
    checks = body.get("checks") if isinstance(body.get("checks"), dict) else {}
    return ServiceStatus(
        name,
        url,
        up=True,
        ready=ready.status_code == 200,
        detail=str(body.get("status", ready.status_code)),
        checks=checks or {},
    )


async def probe_all(
    status: LiveStatus,
    lag: LagProbe,
    client: httpx.AsyncClient,
    services: dict[str, str],
) -> None:
    """One round of every probe; results (and failures) go into ``status``."""
    now = datetime.now(UTC)
    before = _observed(status)
    try:
        status.lag = await lag.read()
        status.kafka_ok(now)
    except Exception as error:
        status.kafka_failed(now, describe_error(error))
        log.warning("console.lag_probe_failed", error=describe_error(error))
    status.services = list(
        await asyncio.gather(*(probe_service(client, n, u) for n, u in services.items()))
    )
    status.services_checked_at = now
    if before != _observed(status):
        status.changes.bump()


def _observed(status: LiveStatus) -> object:
    """What pages show of the probes: a change of it is worth a live update."""
    services = [(s.name, s.up, s.ready, s.checks) for s in status.services]
    return (status.lag, status.kafka_stale_since, services)
