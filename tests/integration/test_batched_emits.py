"""What a batch's handlers emit is written to the outbox together, just before the commit.

The rows must come out exactly as if each event had been written when it was emitted: in
emit order, each aggregate's sequence numbers contiguous from where they stood, and nothing
of a handler whose record was refused (its savepoint undone) published at all.
"""

from __future__ import annotations

import uuid

import pytest
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.dead_letters import failure_details
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, publish_raw, read_topic, unique_topic
from tests.support.probe_service import MIGRATIONS, ProbeStore, ProbeUnit, probe_settings

pytestmark = pytest.mark.integration

REFUSED_SKU = "SKU-REFUSED"


def echoing_definition(schema: str, *, in_topic: str, out_topic: str) -> ServiceDefinition:
    async def echo_twice(event: CartItemAdded, uow: ProbeUnit) -> None:
        """Two events per record, the second emitted after the handler's own write."""
        assert uow.cause is not None
        await uow.emit(event.model_copy(update={"quantity": 1}), topic=out_topic)
        await uow.repos.record_effect(uow.cause.event_id, event.cart_id, event.sku)
        await uow.emit(event.model_copy(update={"quantity": 2}), topic=out_topic)
        if event.sku == REFUSED_SKU:
            raise PermanentError("refused_for_the_test", "this record is refused")

    return ServiceDefinition(
        name=schema,
        migrations=load_migrations("probe", MIGRATIONS),
        repositories=lambda connection: ProbeStore(connection, schema),
        subscriptions=[
            Subscription(
                name=f"echo-{uuid.uuid4().hex[:8]}",  # a new consumer group each run
                topics=[in_topic],
                handlers={CartItemAdded: echo_twice},
            )
        ],
        description="echoes each cart event twice",
    )


def item_of(envelope: Envelope) -> CartItemAdded:
    event = envelope.parse_event()
    assert isinstance(event, CartItemAdded)
    return event


async def test_a_batch_writes_its_events_in_order_with_contiguous_sequences_and_none_refused(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    in_topic, out_topic = unique_topic("echo-in"), unique_topic("echo-out")
    await create_topics(kafka, [in_topic, out_topic], partitions=1)
    carts = [f"cart-batch-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    inputs = [
        cart_item_added(carts[0], sku="SKU-A"),
        cart_item_added(carts[1], sku="SKU-B"),
        cart_item_added(carts[0], sku=REFUSED_SKU),
        cart_item_added(carts[0], sku="SKU-C"),
        cart_item_added(carts[2], sku="SKU-D"),
        cart_item_added(carts[1], sku="SKU-E"),
    ]
    # Published before the service starts: the whole list arrives as one batch.
    await publish_raw(kafka, in_topic, [(e.key, e.to_bytes()) for e in inputs])

    runtime = ServiceRuntime(
        echoing_definition("probe_a", in_topic=in_topic, out_topic=out_topic),
        probe_settings(
            "probe_a",
            database_url=infrastructure.service_database_urls["probe_a"],
            kafka=kafka,
        ),
    )
    await runtime.start()
    try:
        published = await read_topic(kafka, out_topic, expect=10)
        letters = await read_topic(kafka, f"{in_topic}.dlq", expect=1)
        rows = await runtime.pool.fetch(
            "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", out_topic
        )
    finally:
        await runtime.stop()

    accepted = [item_of(e) for e in inputs if item_of(e).sku != REFUSED_SKU]
    expected = [(e.cart_id, e.sku, quantity) for e in accepted for quantity in (1, 2)]
    written = [item_of(Envelope.from_bytes(row["payload"])) for row in rows]
    assert [(e.cart_id, e.sku, e.quantity) for e in written] == expected, "rows in emit order"

    envelopes = [Envelope.from_bytes(record.value or b"") for record in published]
    for cart in carts:  # Kafka keeps each aggregate's order (not the order across them)
        echoed = [item_of(e) for e in envelopes if e.aggregate_id == cart]
        assert [(e.sku, e.quantity) for e in echoed] == [
            (sku, quantity) for cart_id, sku, quantity in expected if cart_id == cart
        ]
    for cart in carts:
        sequences = [e.sequence for e in envelopes if e.aggregate_id == cart]
        assert sequences == list(range(1, len(sequences) + 1)), cart
    assert len({e.event_id for e in envelopes}) == len(envelopes)
    assert [r.key for r in published] == [e.aggregate_id.encode() for e in envelopes]
    assert len(letters) == 1
    assert failure_details(letters[0].headers)["error_code"] == "refused_for_the_test"
