"""Which records a consumer reads, screens and decodes, and which it passes over unread."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
from aiokafka import ConsumerRecord
from orderflow_chassis import card_data_guard
from orderflow_chassis.card_data_guard import CARD_DATA_REFUSED
from orderflow_chassis.consumer_decoding import (
    UNDECODABLE,
    WRONG_TOPIC,
    Decoded,
    PassedOver,
    RecordDecoder,
    Refused,
)
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event, OrderCompleted, OrderPlaced
from orderflow_contracts.examples import example_data

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


def valid(event_class: type[Event], event_type_header: bytes | None) -> ConsumerRecord:
    event = event_class.model_validate(example_data(event_class.event_type))
    envelope = Envelope.wrap(event, producer="probe", correlation_id="journey-1")
    value, key = envelope.to_bytes(), envelope.key
    headers = [("event_type", event_type_header)]
    return ConsumerRecord("orders", 0, 7, 0, 0, key, value, None, len(value), 0, headers)


@pytest.mark.parametrize("announced", [None, b"orderplaced", b"\xff\xfe"])
def test_a_valid_event_whose_header_is_null_or_not_a_contract_type_is_read_from_its_body(
    announced: bytes | None,
) -> None:
    # A null header value (any Kafka client may send one) raised out of the decoder, and the
    # consumer rewound on the record for ever; a misspelt type had the event passed over
    # unread, and its sender never got an answer.
    placed = valid(OrderPlaced, announced)

    assert not DECODER.passes_over([placed])
    decoded = DECODER.decode(placed)
    assert isinstance(decoded, Decoded)
    assert decoded.event.event_type == OrderPlaced.event_type


def test_a_null_header_on_another_consumers_type_is_passed_over_after_reading_its_body() -> None:
    completed = valid(OrderCompleted, None)

    assert not DECODER.passes_over([completed])
    assert DECODER.decode(completed) == PassedOver(OrderCompleted.event_type, "ignored")


def test_a_type_the_contract_does_not_know_in_a_shape_we_cannot_read_is_passed_over() -> None:
    # Read from the body since the header is not a contract type, but an unreadable body of
    # an unknown type is a newer producer's, not a contract violation (decision 16).
    future = dataclasses.replace(
        record("ShippedByDrone", {}), value=b'{"event_type": "ShippedByDrone", "v": [1'
    )

    assert DECODER.decode(future) == PassedOver("ShippedByDrone", "ignored")


def test_a_timestamp_out_of_range_is_refused_as_invalid_data() -> None:
    # It made the validator raise OverflowError, which left the decoder: the consumer rewound
    # on the record for ever instead of dead-lettering it.
    data = example_data("OrderPlaced")
    data["fx"]["as_of"] = "0001-01-01T00:00:00+01:00"

    refused = DECODER.decode(record(OrderPlaced.event_type, data))

    assert isinstance(refused, Refused)
    assert refused.code == "invalid_event_data"
    assert "out of range" in refused.reason


def test_an_unexpected_error_of_the_event_validator_refuses_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise OverflowError("a validator's bug")

    monkeypatch.setattr(Envelope, "parse_event", broken)

    refused = DECODER.decode(record(OrderPlaced.event_type, example_data("OrderPlaced")))

    assert isinstance(refused, Refused)
    assert refused.code == UNDECODABLE
    assert refused.event_type == OrderPlaced.event_type


@pytest.mark.parametrize("where", ["screening", "envelope", "event"])
def test_running_out_of_memory_is_never_the_records_fault(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Screening and decoding refuse what fails in them (a bug must not block a partition),
    # but a MemoryError is the process's: refused, a valid event was dead-lettered.
    def out_of_memory(*_: object, **__: object) -> None:
        raise MemoryError

    targets = {
        "screening": (card_data_guard, "_screen"),
        "envelope": (Envelope, "from_bytes"),
        "event": (Envelope, "parse_event"),
    }
    monkeypatch.setattr(*targets[where], out_of_memory)

    with pytest.raises(MemoryError):
        DECODER.decode(valid(OrderPlaced, OrderPlaced.event_type.encode()))


def test_on_a_topic_other_parties_write_a_header_naming_another_type_is_not_believed() -> None:
    # Review (helpers 114, 115): a warehouse whose framework copies input headers to its
    # output sent a valid event under another type's header; it was passed over unread, and
    # its shipment (or a storefront's checkout) never heard of again.
    copied = dataclasses.replace(
        valid(OrderPlaced, OrderCompleted.event_type.encode()), topic="test.warehouse.events"
    )
    decoder = RecordDecoder({OrderPlaced: _apply}, headers_not_trusted_on=["test.warehouse.events"])

    assert not decoder.passes_over([copied])
    assert isinstance(decoder.decode(copied), Decoded)
    assert DECODER.decode(dataclasses.replace(copied, topic="orders")) == PassedOver(
        OrderCompleted.event_type, "ignored"
    ), "our own outboxes' headers are still read first"


def test_several_event_type_headers_are_no_header_the_body_says() -> None:
    doubled = dataclasses.replace(
        valid(OrderPlaced, None),
        headers=[
            ("event_type", OrderCompleted.event_type.encode()),
            ("event_type", OrderPlaced.event_type.encode()),
        ],
    )

    assert not DECODER.passes_over([doubled])
    assert isinstance(DECODER.decode(doubled), Decoded)


def test_an_event_read_on_another_topic_than_its_contracts_is_refused() -> None:
    decoder = RecordDecoder({OrderPlaced: _apply}, home_topics={"OrderPlaced": "p.orders"})
    placed = dataclasses.replace(valid(OrderPlaced, None), topic="p.orders")

    elsewhere = dataclasses.replace(placed, topic="p.warehouse.events")
    refused = decoder.decode(elsewhere)
    assert isinstance(refused, Refused)
    assert (refused.code, refused.event_type) == (WRONG_TOPIC, "OrderPlaced")
    assert "p.orders" in refused.reason
    assert isinstance(decoder.decode(dataclasses.replace(placed, topic="p.orders")), Decoded)


def test_a_record_keyed_otherwise_than_its_aggregate_is_refused() -> None:
    # Keyed otherwise, it lands on another partition than its aggregate's other events, and
    # nothing keeps it in their order; the contract keys every record by aggregate_id.
    placed = valid(OrderPlaced, None)
    for key in (b"another-order", None, placed.key.upper()):
        refused = DECODER.decode(dataclasses.replace(placed, key=key))
        assert isinstance(refused, Refused)
        assert refused.code == "invalid_envelope"
    assert isinstance(DECODER.decode(placed), Decoded)
