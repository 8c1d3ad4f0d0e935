"""Checks on the valid journeys' events as the topics hold them: outcomes reached, no effect
twice, and each aggregate's events in the order they were numbered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from aiokafka import ConsumerRecord
from orderflow_contracts.envelope import Envelope

from tests.hostile.system import Journey


def _envelopes(records: Iterable[ConsumerRecord]) -> list[tuple[ConsumerRecord, Envelope]]:
    found = []
    for record in records:
        if record.topic.endswith(".dlq"):
            continue
        try:
            envelope = Envelope.from_bytes(record.value or b"")
        except Exception:  # noqa: S112 - the fuzzer's own records are not envelopes
            continue
        found.append((record, envelope))
    return found


def journey_problems(records: Iterable[ConsumerRecord], journeys: Sequence[Journey]) -> list[str]:
    """Each journey: one order; approved -> captured once and fulfilment requested;
    declined -> cancelled once and never captured."""
    by_type: dict[tuple[str, str], set[str]] = defaultdict(set)  # (type, id) -> event ids
    order_of_cart: dict[str, str] = {}
    for _, envelope in _envelopes(records):
        data = envelope.data
        if envelope.event_type == "CartCheckedOut":
            order_of_cart[str(data.get("cart_id"))] = str(data.get("order_id"))
        subject = str(data.get("order_id") or data.get("cart_id") or "")
        by_type[(envelope.event_type, subject)].add(str(envelope.event_id))

    problems: list[str] = []
    for one in journeys:
        order_id = order_of_cart.get(one.cart_id)
        if order_id is None:
            problems.append(f"{one.cart_id}: never checked out")
            continue

        def count(event_type: str, subject: str = order_id) -> int:
            return len(by_type.get((event_type, subject), set()))

        wanted = {"OrderPlaced": 1}
        if one.approved:
            wanted |= {"PaymentCaptured": 1, "OrderCancelled": 0}
            if count("FulfillmentRequested") < 1:
                problems.append(f"{one.cart_id} (order {order_id}): fulfilment never requested")
        else:
            wanted |= {"PaymentCaptured": 0, "OrderCancelled": 1}
        for event_type, n in wanted.items():
            if count(event_type) != n:
                problems.append(f"{one.cart_id}: {count(event_type)} x {event_type}, wanted {n}")
    return problems


def order_problems(records: Iterable[ConsumerRecord], correlation_prefix: str) -> list[str]:
    """Per (topic, producer, aggregate), the numbered events of the valid journeys appear in
    increasing ``sequence`` order, and no sequence number belongs to two different events
    (a re-published copy of one event is allowed: consumers drop it by event id)."""
    streams: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    for record, envelope in sorted(
        _envelopes(records), key=lambda pair: (pair[0].topic, pair[0].partition, pair[0].offset)
    ):
        if envelope.sequence is None or not envelope.correlation_id.startswith(correlation_prefix):
            continue
        key = (record.topic, envelope.producer, envelope.aggregate_id)
        streams[key].append((envelope.sequence, str(envelope.event_id)))

    problems: list[str] = []
    for key, stream in streams.items():
        seen: dict[int, str] = {}
        highest = 0
        for sequence, event_id in stream:
            if sequence in seen:
                if seen[sequence] != event_id:
                    problems.append(f"{key}: sequence {sequence} used by two events")
                continue
            if sequence < highest:
                problems.append(f"{key}: sequence {sequence} after {highest}")
            seen[sequence] = event_id
            highest = max(highest, sequence)
    return problems
