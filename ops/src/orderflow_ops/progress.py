"""Live progress of the whole system, counted from the topics as events happen."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError
from rich.table import Table

# What the terminal shows, in saga order, and which events count for each line.
STAGES: tuple[tuple[str, frozenset[str]], ...] = (
    ("carts checked out", frozenset({"CartCheckedOut"})),
    ("orders placed", frozenset({"OrderPlaced"})),
    ("payments authorised", frozenset({"PaymentAuthorized"})),
    ("paid (captured)", frozenset({"PaymentCaptured"})),
    ("shipped", frozenset({"ShipmentDispatched"})),
    ("delivered", frozenset({"ShipmentDelivered"})),
    ("orders completed", frozenset({"OrderCompleted"})),
    ("returns authorised", frozenset({"ReturnAuthorized"})),
    ("refunded", frozenset({"RefundIssued"})),
    ("warranty replacements", frozenset({"WarrantyClaimAccepted"})),
)
FAILURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("checkouts rejected", frozenset({"CheckoutRejected"})),
    ("payments declined", frozenset({"PaymentDeclined"})),
    ("out of stock", frozenset({"StockUnavailable"})),
    ("orders cancelled", frozenset({"OrderCancelled"})),
    ("returns rejected", frozenset({"ReturnRejected"})),
    ("warranty rejected", frozenset({"WarrantyClaimRejected"})),
    ("refunds failed", frozenset({"RefundFailed"})),
)
DEAD_LETTERS = "dead letters"


@dataclass
class ProgressCounts:
    by_event_type: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    seen_event_ids: set[str] = field(default_factory=set)
    started_at: float = field(default_factory=time.monotonic)
    restarts: dict[str, int] = field(default_factory=dict)  # per service, by the supervisor

    def record(self, topic: str, value: bytes | None) -> None:
        if topic.endswith(".dlq"):
            self.dead_letters += 1
            return
        try:
            envelope = Envelope.from_bytes(value or b"")
        except ContractError:
            return
        event_id = str(envelope.event_id)
        if event_id in self.seen_event_ids:
            return  # a re-published duplicate: count facts, not deliveries
        self.seen_event_ids.add(event_id)
        self.by_event_type[envelope.event_type] += 1

    def count(self, event_types: frozenset[str]) -> int:
        return sum(self.by_event_type[t] for t in event_types)

    def rows(self) -> list[tuple[str, int]]:
        rows = [(label, self.count(types)) for label, types in STAGES]
        rows += [(label, self.count(types)) for label, types in FAILURES]
        rows.append((DEAD_LETTERS, self.dead_letters))
        rows += [(f"{name} restarts", count) for name, count in self.restarts.items()]
        return rows

    def table(self) -> Table:
        elapsed = time.monotonic() - self.started_at
        table = Table(title=f"Orderflow — live ({elapsed:,.0f}s)", title_justify="left")
        table.add_column("stage")
        table.add_column("count", justify="right")
        failure_labels = {label for label, _ in FAILURES} | {DEAD_LETTERS}
        failure_labels |= {f"{name} restarts" for name in self.restarts}
        for label, value in self.rows():
            style = "red" if label in failure_labels and value else None
            table.add_row(label, f"{value:,}", style=style)
        return table

    def one_line(self) -> str:
        return "  ".join(f"{label}={value}" for label, value in self.rows() if value)


async def follow(
    bootstrap_servers: str,
    topic_names: Sequence[str],
    counts: ProgressCounts,
    *,
    from_beginning: bool = False,
    stop: asyncio.Event,
    on_update: Callable[[], None] | None = None,
) -> None:
    """Count events on ``topic_names`` until ``stop`` is set (no consumer group)."""
    consumer = AIOKafkaConsumer(
        *topic_names,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        metadata_max_age_ms=5000,
        **kafka_client_options(),
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    counts.record(record.topic, record.value)
            if batch and on_update is not None:
                on_update()
    finally:
        with contextlib.suppress(Exception):
            await stop_consumer(consumer)
