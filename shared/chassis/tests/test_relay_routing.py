"""Where each outbox row goes, and the topics Kafka gives no partitions for: their rows and
keys are held back, only their probe key is claimed again when they are due, and the asking
runs beside the rounds."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidTopicError, TopicAuthorizationFailedError
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay_routing import Router, partition_of
from orderflow_chassis.relay_sending import is_legal_topic, publish_row

from shared.chassis.tests.relay_support import Clock, row

WAIT_S = 0.05


class MetadataProducer:
    """A producer's metadata surface: ``known`` topics' partitions; asking for another one is
    counted and learns it from ``broker`` (Kafka's topics), raises ``refusing``, or waits for
    ever (as aiokafka does for a topic Kafka does not have and will not create)."""

    def __init__(
        self,
        known: dict[str, set[int]],
        broker: dict[str, set[int]] | None = None,
        refusing: Exception | None = None,
    ) -> None:
        self.known = known
        self.broker = broker if broker is not None else {}
        self.refusing = refusing
        self.asked: list[str] = []
        self.client = SimpleNamespace(cluster=SimpleNamespace(partitions_for_topic=known.get))

    async def partitions_for(self, topic: str) -> set[int]:
        self.asked.append(topic)
        if self.refusing is not None:
            raise self.refusing
        if topic in self.broker:
            self.known[topic] = self.broker[topic]
            return self.broker[topic]
        await asyncio.Event().wait()
        return set()


def as_producer(producer: MetadataProducer) -> AIOKafkaProducer:
    return cast(AIOKafkaProducer, producer)


def router(clock: Clock) -> Router:
    return Router(wait_s=WAIT_S, retry_after_s=30, quick_s=0.01, clock=clock)


async def a_round(
    routing: Router, producer: MetadataProducer, rows: list[OutboxRow], *, complete: bool = True
) -> tuple[dict[int, TopicPartition], list[int], int]:
    """What a relay round does with a claim: its routes, the ids going on, how many held."""
    routes = await routing.routes(as_producer(producer), rows)
    going, held = routing.hold_unknown(rows, routes, complete=complete)
    return routes, [r.id for r in going], held


async def test_a_row_goes_where_the_producers_partitioner_puts_its_key() -> None:
    routes, going, held = await a_round(
        router(Clock()), MetadataProducer({"orders": {2, 0, 1}}), [row(1, "a")]
    )
    assert routes == {1: TopicPartition("orders", partition_of("a", (0, 1, 2)))}
    assert (going, held) == ([1], 0)


async def test_a_topic_kafka_lacks_holds_its_rows_and_keys_and_is_not_asked_every_round() -> None:
    clock = Clock()
    routing = router(clock)
    producer = MetadataProducer({"orders": {0, 1, 2}})
    rows = [row(1, "a", topic="gone"), row(2, "b"), row(3, "a"), row(4, "c", topic="gone")]

    _, going, held = await a_round(routing, producer, rows)
    assert (going, held) == ([2], 3), "a's later row waits for its first, on any topic"
    assert routing.held_keys() == ["a", "c"], "left out of the claims while it is asked for"
    assert routing.unknown_topics() == {}, "not called unknown before the ask answered"

    await asyncio.sleep(WAIT_S * 2)  # the ask gives up
    _, going, held = await a_round(routing, producer, [row(5, "d", topic="gone"), row(6, "e")])
    assert (going, held) == ([6], 1)
    assert producer.asked == ["gone"], "asked once"
    assert list(routing.unknown_topics()) == ["gone"]
    assert "Kafka does not have it, or is out of reach" in routing.unknown_topics()["gone"]
    assert routing.held_keys() == ["a", "c", "d"]


async def test_when_due_only_the_probe_key_is_claimed_and_all_flow_once_the_topic_is_there() -> (
    None
):
    clock = Clock()
    routing = router(clock)
    producer = MetadataProducer({})
    await a_round(routing, producer, [row(1, "a", topic="gone"), row(2, "b", topic="gone")])
    await asyncio.sleep(WAIT_S * 2)
    await a_round(routing, producer, [])
    assert routing.held_keys() == ["a", "b"]

    clock.now += 31
    assert routing.held_keys() == ["b"], "a backlog is not walked again: only its oldest key"
    producer.broker["gone"] = {0}  # created meanwhile
    _, going, held = await a_round(routing, producer, [row(1, "a", topic="gone")])
    assert (going, held) == ([1], 0)
    assert producer.asked == ["gone", "gone"]
    assert (routing.held_keys(), routing.unknown_topics()) == ([], {})


async def test_a_topic_still_missing_when_due_holds_its_probe_key_again() -> None:
    clock = Clock()
    routing = router(clock)
    producer = MetadataProducer({})
    await a_round(routing, producer, [row(1, "a", topic="gone"), row(2, "b", topic="gone")])
    await asyncio.sleep(WAIT_S * 2)
    clock.now += 31
    assert await a_round(routing, producer, [row(1, "a", topic="gone")]) == ({}, [], 1)
    assert routing.held_keys() == ["a", "b"]
    await asyncio.sleep(WAIT_S * 2)
    await a_round(routing, producer, [])
    assert list(routing.unknown_topics()) == ["gone"]
    assert routing.held_keys() == ["a", "b"]


async def test_a_topic_refused_to_this_service_says_so() -> None:
    # Its ACLs, say: "orderflow-topics apply" would not help, and the health must not say so.
    producer = MetadataProducer({}, refusing=TopicAuthorizationFailedError("gone"))
    routing = router(Clock())
    await a_round(routing, producer, [row(1, "a", topic="gone")])
    await asyncio.sleep(0.01)
    await a_round(routing, producer, [])
    assert "TopicAuthorizationFailedError" in routing.unknown_topics()["gone"]


async def test_a_due_topic_whose_rows_are_gone_is_forgotten() -> None:
    clock = Clock()
    routing = router(clock)
    producer = MetadataProducer({"orders": {0}})
    await a_round(routing, producer, [row(1, "a", topic="gone"), row(2, "b", topic="gone")])
    await asyncio.sleep(WAIT_S * 2)
    await a_round(routing, producer, [])
    clock.now += 31

    await a_round(routing, producer, [row(9, "z")], complete=False)
    assert routing.held_keys() == ["b"], "a claim that was not complete proves nothing"
    await a_round(routing, producer, [row(9, "z")])
    assert routing.held_keys() == [], "its probe key's rows are gone (parked): every key goes"
    await a_round(routing, producer, [row(9, "z")])
    assert (routing.held_keys(), routing.unknown_topics()) == ([], {})


async def test_a_replaced_producer_asks_afresh_and_routes_as_the_one_before() -> None:
    routing = router(Clock())
    stuck = MetadataProducer({})
    await a_round(routing, stuck, [row(1, "a")])  # its ask is still out
    fresh = MetadataProducer({}, broker={"orders": {0, 1, 2}})
    routes, going, _ = await a_round(routing, fresh, [row(1, "a")])
    assert routes == {1: TopicPartition("orders", partition_of("a", (0, 1, 2)))}
    assert (going, fresh.asked) == ([1], ["orders"])


async def test_a_relay_that_stops_leading_forgets_what_it_learnt() -> None:
    routing = router(Clock())
    producer = MetadataProducer({})
    await a_round(routing, producer, [row(1, "a", topic="gone")])
    routing.forget_all()
    assert (routing.held_keys(), routing.unknown_topics()) == ([], {})
    await routing.close()


async def test_a_name_kafka_cannot_take_is_not_asked_for_and_its_row_is_refused_at_once() -> None:
    routing = router(Clock())
    producer = MetadataProducer({})
    rows = [row(1, "a", topic="no spaces allowed"), row(2, "b", topic="x" * 250)]
    assert await a_round(routing, producer, rows) == ({}, [1, 2], 0), "sent, to be refused"
    assert producer.asked == []
    with pytest.raises(InvalidTopicError, match="cannot be a Kafka topic's name"):
        await publish_row(cast(AIOKafkaProducer, None), rows[0], service="s", partition=None)
    assert [is_legal_topic(t) for t in ("orders.v1", "a" * 249, ".", "..", "", "é")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
