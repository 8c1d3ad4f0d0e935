"""A subscription that answers its senders answers every record it dead-letters, in the
record's place among the batch's events, and no record can make the answer stall the
partition (review, helper 108: an unhashable ``event_type`` or a NUL in the correlation id
rolled the batch back for ever, dead letter and all)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.refusal_answers import RefusedRecord
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded, CheckoutRejected, Event, RejectionReason
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import create_topics, eventually, publish_raw, unique_topic
from tests.support.probe_service import (
    ProbeUnit,
    probe_definition,
    probe_settings,
    record_effect,
)

pytestmark = pytest.mark.integration


async def refusing(event: CartItemAdded, uow: ProbeUnit) -> None:
    if event.sku == "SKU-PERM":
        raise PermanentError("probe_refused", "the probe refuses this product")
    await record_effect(event, uow)


def answer(refused: RefusedRecord) -> Event:
    assert refused.key is not None
    said = f"{refused.code} by_handler={refused.by_handler}"
    return CheckoutRejected(
        cart_id=refused.key, reasons=[RejectionReason(code="refused", message=said)]
    )


async def test_every_dead_letter_is_answered_in_its_place_and_hostile_ids_stall_nothing(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("answers")
    await create_topics(kafka, [topic])
    cart = f"cart-answers-{uuid.uuid4().hex[:8]}"
    key = cart.encode()  # one key: one partition, in this order
    first, last = (
        cart_item_added(cart, sku="SKU-001"),
        cart_item_added(cart, sku="SKU-002"),
    )
    refused = cart_item_added(cart, sku="SKU-PERM")
    unhashable = {**json.loads(first.to_bytes()), "event_type": []}
    nul = json.loads(cart_item_added(cart, sku="SKU-003").to_bytes())
    nul["correlation_id"] = "j\u0000"
    await publish_raw(
        kafka,
        topic,
        [
            (key, first.to_bytes()),
            (key, refused.to_bytes()),
            (key, json.dumps(unhashable).encode()),
            (key, json.dumps(nul).encode()),
            (key, last.to_bytes()),
        ],
    )
    schema = "probe_a"
    definition = probe_definition(schema, in_topics=[], group="unused")
    subscription = Subscription(
        f"answers-{uuid.uuid4().hex[:8]}",
        [topic],
        {CartItemAdded: refusing},
        answer_refusal=answer,
    )
    runtime = ServiceRuntime(
        replace(definition, subscriptions=[subscription]),
        probe_settings(
            schema, database_url=infrastructure.service_database_urls[schema], kafka=kafka
        ),
    )
    await runtime.start()
    try:
        await eventually(
            lambda: runtime.pool.fetchval(
                "SELECT count(*) FROM effects WHERE event_id = $1", last.event_id
            ),
            bool,
        )
        rows = await runtime.pool.fetch(
            "SELECT payload, message_key FROM outbox WHERE event_type = 'CheckoutRejected' "
            "AND message_key = $1 ORDER BY id",
            cart,
        )
    finally:
        await runtime.stop()

    answers = [Envelope.from_bytes(bytes(row["payload"])) for row in rows]
    assert [a.data["reasons"][0]["message"] for a in answers] == [
        "probe_refused by_handler=True",
        "invalid_envelope by_handler=False",
        "invalid_envelope by_handler=False",
    ]
    assert answers[0].causation_id == str(refused.event_id)
    assert (answers[2].correlation_id, answers[2].causation_id) == (nul["event_id"],) * 2, (
        "its own id, not its NUL"
    )
