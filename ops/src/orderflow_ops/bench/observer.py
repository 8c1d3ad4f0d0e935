"""The benchmark's observer: when did each order reach each stage, read from the topics.

Every time here is a Kafka record timestamp (CreateTime: set by the producing client when it
hands the record over: the storefront for CheckoutRequested, a service's outbox relay for what
a service emits). The observer's own polling delay never enters a figure, and every process
runs on this one machine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_chassis.waiting import stop_task

from orderflow_ops.event_log import contract_topics

# The stages an order goes through, in saga order, and the event that marks each.
STAGES: tuple[tuple[str, str], ...] = (
    ("placed", "OrderPlaced"),
    ("captured", "PaymentCaptured"),
    ("fulfillment_requested", "FulfillmentRequested"),
    ("completed", "OrderCompleted"),
)
STAGE_OF_EVENT = {event_type: stage for stage, event_type in STAGES}
# Outcomes that end an order without completing it: the benchmark expects none.
FAILURE_EVENTS = frozenset(
    {"CheckoutRejected", "PaymentDeclined", "StockUnavailable", "OrderCancelled"}
)


@dataclass(frozen=True)
class StageCounts:
    checkouts: int
    stages: dict[str, int]
    failed: int


@dataclass
class StageBook:
    """Per cart and order, the record timestamp (ms) of each stage's first event."""

    checkout_ms: dict[str, int] = field(default_factory=dict)  # cart id -> CheckoutRequested
    order_of_cart: dict[str, str] = field(default_factory=dict)
    stage_ms: dict[str, dict[str, int]] = field(default_factory=dict)  # order id -> stage -> ms
    failures: dict[str, str] = field(default_factory=dict)  # cart or order id -> event type
    record_ms: list[int] = field(default_factory=list)  # every contract record, for events/s
    records_by_topic: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    _seen_event_ids: set[str] = field(default_factory=set)

    def record(self, topic: str, timestamp_ms: int, value: bytes | None) -> None:
        if topic.endswith(".dlq"):
            self.dead_letters += 1
            return
        envelope = _json_object(value)
        event_id = str(envelope.get("event_id", ""))
        if event_id and event_id in self._seen_event_ids:
            return  # a relay re-published it: one fact, counted once
        self._seen_event_ids.add(event_id)
        self.record_ms.append(timestamp_ms)
        self.records_by_topic[topic] += 1
        event_type = envelope.get("event_type")
        data = envelope.get("data")
        if not isinstance(event_type, str) or not isinstance(data, dict):
            return
        self._apply(event_type, data, timestamp_ms)

    def _apply(self, event_type: str, data: dict[str, Any], timestamp_ms: int) -> None:
        cart_id, order_id = data.get("cart_id"), data.get("order_id")
        if event_type == "CheckoutRequested" and isinstance(cart_id, str):
            self.checkout_ms.setdefault(cart_id, timestamp_ms)
        if event_type == "OrderPlaced" and isinstance(cart_id, str) and order_id is not None:
            self.order_of_cart.setdefault(cart_id, str(order_id))
        if event_type in FAILURE_EVENTS:
            subject = str(order_id) if order_id is not None else str(cart_id)
            self.failures.setdefault(subject, event_type)
        stage = STAGE_OF_EVENT.get(event_type)
        if stage is None or order_id is None:
            return
        if event_type == "FulfillmentRequested" and data.get("replacement"):
            return  # a warranty replacement, not the order's own shipment
        self.stage_ms.setdefault(str(order_id), {}).setdefault(stage, timestamp_ms)

    def stages_of_cart(self, cart_id: str) -> dict[str, int]:
        order_id = self.order_of_cart.get(cart_id)
        return self.stage_ms.get(order_id, {}) if order_id is not None else {}

    def failure_of_cart(self, cart_id: str) -> str | None:
        order_id = self.order_of_cart.get(cart_id)
        by_order = self.failures.get(order_id) if order_id is not None else None
        return by_order or self.failures.get(cart_id)

    def counts(self, carts: Iterable[str]) -> StageCounts:
        checkouts, failed = 0, 0
        reached = dict.fromkeys((stage for stage, _ in STAGES), 0)
        for cart_id in carts:
            checkouts += cart_id in self.checkout_ms
            failed += self.failure_of_cart(cart_id) is not None
            for stage in self.stages_of_cart(cart_id):
                reached[stage] += 1
        return StageCounts(checkouts, reached, failed)

    def records_between(self, start_ms: int, end_ms: int) -> int:
        return sum(1 for ms in self.record_ms if start_ms <= ms <= end_ms)


def _json_object(value: bytes | None) -> dict[str, Any]:
    try:
        decoded = json.loads(value or b"")
    except (ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


class Observer:
    """Reads every contract topic of one prefix (dead letters included) into a StageBook,
    without a consumer group, from the beginning of each partition."""

    def __init__(self, bootstrap_servers: str, topic_prefix: str) -> None:
        self.book = StageBook()
        self._bootstrap = bootstrap_servers
        self._topics: Sequence[str] = contract_topics(topic_prefix)
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        # The services created these topics when they started; assign every partition.
        partitions = await topic_partitions(self._bootstrap, self._topics)
        assigned = [TopicPartition(topic, p) for topic, ps in partitions.items() for p in ps]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            # Stages are timed by each record's own timestamp, not by when it is read: fetching
            # every partition of every topic at once per 256 KiB or 200 ms, not per record,
            # spares the broker (and the figures it is in) the benchmark's own reading.
            fetch_min_bytes=256 * 1024,
            fetch_max_wait_ms=200,
            **kafka_client_options(),
        )
        await self._consumer.start()
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._consume(), name="bench-observer")

    async def _consume(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    self.book.record(record.topic, record.timestamp, record.value)

    def check_alive(self) -> None:
        """Raise what stopped the observer, if it stopped."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            self._task.result()

    async def stop(self) -> None:
        try:
            if self._task is not None:
                await stop_task(self._task)
        finally:
            if self._consumer is not None:
                with contextlib.suppress(Exception):
                    await stop_consumer(self._consumer)
