"""A subscription that answers its senders answers every record it dead-letters, in the
record's place among the batch's events, and no record can make the answer stall the
partition (review, helper 108: an unhashable ``event_type`` or a NUL in the correlation id
rolled the batch back for ever, dead letter and all)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

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
    if event.sku == "SKU-BUG":
        raise RuntimeError("a bug that fails every time")
    await record_effect(event, uow)


def answer(refused: RefusedRecord) -> Event:
    assert refused.key is not None
    said = f"{refused.code} by_handler={refused.by_handler}"
    return CheckoutRejected(
        cart_id=refused.key, reasons=[RejectionReason(code="refused", message=said)]
    )


async def _started(infrastructure: Infrastructure, topic: str, **settings: Any) -> ServiceRuntime:
    """The probe consuming ``topic`` with the refusing handler, answering its dead letters."""
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
            schema,
            database_url=infrastructure.service_database_urls[schema],
            kafka=infrastructure.kafka_bootstrap_servers,
            consumer_retry_initial_delay_s=0.05,
            **settings,
        ),
    )
    await runtime.start()
    return runtime


async def _answers_once_applied(
    infrastructure: Infrastructure, topic: str, cart: str, last: Envelope, **settings: Any
) -> list[Envelope]:
    """The probe's answers keyed by ``cart``, once it applied ``last`` (the batch committed)."""
    runtime = await _started(infrastructure, topic, **settings)
    try:
        await eventually(
            lambda: runtime.pool.fetchval(
                "SELECT count(*) FROM effects WHERE event_id = $1", last.event_id
            ),
            bool,
        )
        rows = await runtime.pool.fetch(
            "SELECT payload FROM outbox WHERE event_type = 'CheckoutRejected' "
            "AND message_key = $1 ORDER BY id",
            cart,
        )
    finally:
        await runtime.stop()
    return [Envelope.from_bytes(bytes(row["payload"])) for row in rows]


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
    answers = await _answers_once_applied(infrastructure, topic, cart, last)

    assert [a.data["reasons"][0]["message"] for a in answers] == [
        "probe_refused by_handler=True",
        "invalid_envelope by_handler=False",
        "invalid_envelope by_handler=False",
    ]
    assert answers[0].causation_id == str(refused.event_id)
    assert (answers[2].correlation_id, answers[2].causation_id) == (nul["event_id"],) * 2, (
        "its own id, not its NUL"
    )


async def test_a_record_failing_its_attempts_before_one_its_handler_refuses_stalls_nothing(
    infrastructure: Infrastructure,
) -> None:
    # Review (helper 110): the record failing every time was dead-lettered in the pass the
    # refusal then rolled back, and its failures forgotten before the commit: in the savepoint
    # pass it started again from none, failed its attempts anew, and the batch never committed.
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("exhausted")
    await create_topics(kafka, [topic])
    cart = f"cart-exhausted-{uuid.uuid4().hex[:8]}"
    bug, refused, last = (
        cart_item_added(cart, sku=sku) for sku in ("SKU-BUG", "SKU-PERM", "SKU-001")
    )
    key = cart.encode()
    await publish_raw(kafka, topic, [(key, e.to_bytes()) for e in (bug, refused, last)])
    answers = await _answers_once_applied(
        infrastructure, topic, cart, last, consumer_handler_attempts=2
    )

    assert [a.data["reasons"][0]["message"] for a in answers] == [
        "handler_failed by_handler=True",
        "probe_refused by_handler=True",
    ]
