"""Which records a consumer reads, screens and decodes, and which it passes over unread."""

from __future__ import annotations

import json
import uuid

from aiokafka import ConsumerRecord
from orderflow_chassis.card_data_guard import CARD_DATA_REFUSED
from orderflow_chassis.consumer_decoding import PassedOver, RecordDecoder, Refused
from orderflow_contracts.events import Event, OrderCompleted, OrderPlaced

CARD = "4111111111111111"


async def _apply(event: Event, uow: object) -> None:  # never called here
    raise AssertionError("decoding calls no handler")


def record(event_type: str, data: dict[str, object]) -> ConsumerRecord:
    value = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": "2025-01-31T12:00:00Z",
            "producer": "probe",
            "correlation_id": "journey-1",
            "aggregate_id": "agg-1",
            "data": data,
        }
    ).encode()
    headers = [("event_type", event_type.encode())]
    return ConsumerRecord("orders", 0, 7, 0, 0, b"agg-1", value, None, len(value), 0, headers)


DECODER = RecordDecoder({OrderPlaced: _apply})


def test_a_type_another_consumer_applies_is_passed_over_without_being_decoded() -> None:
    completed = record(OrderCompleted.event_type, {"note": "not even valid data for it"})

    assert DECODER.passes_over([completed])
    assert DECODER.decode(completed) == PassedOver(OrderCompleted.event_type, "ignored")


def test_a_card_number_is_refused_whatever_type_the_record_claims() -> None:
    # Announced as a contract type this consumer leaves to others (on a topic that may not
    # even carry it): screened all the same.
    claimed = record(OrderCompleted.event_type, {"note": f"card {CARD}"})

    assert not DECODER.passes_over([claimed])
    refused = DECODER.decode(claimed)
    assert isinstance(refused, Refused)
    assert refused.code == CARD_DATA_REFUSED


def test_a_type_the_contract_does_not_know_is_screened_for_card_data() -> None:
    # No consumer applies it, so each one screens it: a card number in it is refused.
    unknown = record("NotInTheContract", {"note": f"card {CARD}"})

    assert not DECODER.passes_over([unknown])
    refused = DECODER.decode(unknown)
    assert isinstance(refused, Refused)
    assert refused.code == CARD_DATA_REFUSED


def test_a_clean_record_of_a_type_the_contract_does_not_know_is_passed_over() -> None:
    unknown = record("NotInTheContract", {"note": "a newer producer's event"})

    assert DECODER.decode(unknown) == PassedOver("NotInTheContract", "ignored")
