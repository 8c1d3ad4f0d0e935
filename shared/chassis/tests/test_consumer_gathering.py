"""A read model's consumer (``Subscription.gather``) asks Kafka for full batches: its own
record bound, minimum bytes and wait, and a poll that waits as long as the fetch. A saga step's
consumer keeps the service's settings."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker
from orderflow_chassis.batch_applier import BatchApplier
from orderflow_chassis.consumer import EventConsumer, Gather, Subscription
from orderflow_contracts.events import CartItemAdded

SERVICE_SETTINGS: dict[str, Any] = {
    "max_records": 200,
    "batch_timeout_ms": 50,
    "fetch_min_bytes": 262_144,
    "fetch_max_wait_ms": 50,
    "fetch_loaded_max_wait_ms": 200,
}


async def ignore(event: Any, uow: Any) -> None:
    return None


def subscriber_options(gather: Gather | None) -> dict[str, Any]:
    """What the consumer asks FastStream's subscriber for, with the service's settings above."""
    broker = KafkaBroker("localhost:9092")
    asked: dict[str, Any] = {}
    declare = broker.subscriber

    def spy(*topics: str, **options: Any) -> Any:
        asked.update(options)
        return declare(*topics, **options)

    broker.subscriber = spy  # type: ignore[method-assign,assignment]
    subscription = Subscription(
        name="g", topics=["t"], handlers={CartItemAdded: ignore}, gather=gather
    )
    consumer = EventConsumer(
        BatchApplier(
            subscription,
            pool=cast(Any, SimpleNamespace()),
            transactions=cast(Any, SimpleNamespace(outbox=SimpleNamespace(schema="probe"))),
            service="probe",
            group_id="probe.g",
            bootstrap_servers="localhost:1",
        ),
        on_group_refused=lambda _: None,
    )
    consumer.register(broker, **SERVICE_SETTINGS)
    return asked


def test_a_gathering_consumer_asks_for_full_batches_and_polls_as_long_as_it_fetches() -> None:
    asked = subscriber_options(Gather(wait_ms=300, max_records=400))
    assert (
        asked["max_records"],
        asked["fetch_min_bytes"],
        asked["fetch_max_wait_ms"],
        asked["batch_timeout_ms"],
    ) == (400, 400 * 4096, 300, 300)


def test_a_saga_steps_consumer_keeps_the_services_settings() -> None:
    asked = subscriber_options(None)
    assert (
        asked["max_records"],
        asked["fetch_min_bytes"],
        asked["fetch_max_wait_ms"],
        asked["batch_timeout_ms"],
    ) == (200, 262_144, 50, 50)


@pytest.mark.parametrize(("wait_ms", "max_records"), [(0, 400), (99, 400), (300, 0)])
def test_a_gather_too_short_to_pause_or_too_small_to_hold_a_record_is_refused(
    wait_ms: int, max_records: int
) -> None:
    with pytest.raises(ValueError, match="at least 100 ms"):
        Gather(wait_ms=wait_ms, max_records=max_records)
