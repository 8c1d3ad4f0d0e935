"""The envelope: round trips, timestamps, and every ContractError code."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from uuid import UUID

import pytest
from orderflow_contracts import (
    EVENT_TYPES,
    ContractError,
    Envelope,
    Event,
    InvalidEventData,
    MalformedEnvelope,
    UnknownEventType,
    UnsupportedSchemaVersion,
)
from orderflow_contracts.events import OrderCompleted, OrderPlaced
from orderflow_contracts.examples import ORDER_ID, example_data, example_types
from pydantic import ValidationError

WHEN = datetime(2025, 1, 31, 12, 0, 0, tzinfo=UTC)
EVENT_ID = UUID("0b7e2c1a-5d4f-4e3b-9a8c-7d6e5f4a3b2c")


def envelope_document(of: str = "OrderPlaced", /, **overrides: Any) -> dict[str, Any]:
    event = EVENT_TYPES[of].model_validate(example_data(of))
    document = Envelope.wrap(
        event, producer="cart", correlation_id="journey-1", occurred_at=WHEN, sequence=1
    ).model_dump(mode="json")
    document.update(overrides)
    return document


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def contract_error(raw: bytes) -> ContractError:
    with pytest.raises(ContractError) as caught:
        Envelope.from_bytes(raw).parse_event()
    return caught.value


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("event_type", example_types())
def test_every_event_round_trips_through_bytes(event_type: str) -> None:
    event = EVENT_TYPES[event_type].model_validate(example_data(event_type))
    envelope = Envelope.wrap(
        event,
        producer="cart",
        correlation_id="journey-1",
        causation_id=str(EVENT_ID),
        sequence=7,
        occurred_at=WHEN,
    )
    raw = envelope.to_bytes()
    parsed = Envelope.from_bytes(raw)
    assert parsed == envelope
    assert parsed.parse_event() == event
    assert parsed.to_bytes() == raw
    assert parsed.event_type == event_type
    assert parsed.aggregate_id == event.aggregate_id
    assert parsed.key == event.aggregate_id.encode()
    # What went in as JSON comes out as the same JSON (the data is the canonical form).
    assert json.loads(raw)["data"] == event.model_dump(mode="json")


def test_wrap_fills_in_the_envelope() -> None:
    event = OrderPlaced.model_validate(example_data("OrderPlaced"))
    envelope = Envelope.wrap(event, producer="cart", correlation_id="journey-1")
    assert envelope.event_type == "OrderPlaced"
    assert envelope.schema_version == 1
    assert envelope.aggregate_id == ORDER_ID
    assert envelope.causation_id is None
    assert envelope.sequence is None
    assert isinstance(envelope.event_id, UUID)
    assert envelope.occurred_at.tzinfo is UTC
    assert abs(envelope.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    other = Envelope.wrap(event, producer="cart", correlation_id="journey-1")
    assert other.event_id != envelope.event_id


def test_bytes_are_compact_utf8_json_in_the_documented_field_order() -> None:
    event = OrderPlaced.model_validate(
        {
            **example_data("OrderPlaced"),
            "ship_to": {**example_data("OrderPlaced")["ship_to"], "city": "Köln"},
        }
    )
    raw = Envelope.wrap(
        event, producer="cart", correlation_id="j", event_id=EVENT_ID, occurred_at=WHEN
    ).to_bytes()
    assert "Köln".encode() in raw
    compact = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False)
    assert raw == compact.encode("utf-8")
    assert list(json.loads(raw)) == [
        "event_id", "event_type", "schema_version", "occurred_at", "producer",
        "correlation_id", "causation_id", "aggregate_id", "sequence", "data",
    ]  # fmt: skip
    assert raw.startswith(b'{"event_id":"0b7e2c1a-5d4f-4e3b-9a8c-7d6e5f4a3b2c","event_type"')


# ------------------------------------------------------------------------------ timestamps


def test_occurred_at_is_serialised_as_rfc3339_utc_with_z() -> None:
    event = OrderCompleted.model_validate({"order_id": ORDER_ID})
    plus_two = datetime(2025, 1, 31, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    envelope = Envelope.wrap(
        event, producer="fulfillment", correlation_id="j", occurred_at=plus_two
    )
    assert json.loads(envelope.to_bytes())["occurred_at"] == "2025-01-31T12:00:00.123456Z"


def test_naive_timestamps_are_refused() -> None:
    event = OrderCompleted.model_validate({"order_id": ORDER_ID})
    with pytest.raises(ValidationError, match="time zone"):
        Envelope.wrap(
            event,
            producer="fulfillment",
            correlation_id="j",
            occurred_at=datetime(2025, 1, 31, 12, 0),  # noqa: DTZ001 - the point of the test
        )
    for naive in ("2025-01-31T12:00:00", "2025-01-31", "1738324800", 1738324800):
        error = contract_error(encode(envelope_document(occurred_at=naive)))
        assert error.code == "invalid_envelope"
        assert "occurred_at" in error.reason


def test_offsets_are_normalised_to_utc_when_parsing() -> None:
    envelope = Envelope.from_bytes(
        encode(envelope_document(occurred_at="2025-01-31T13:00:00+01:00"))
    )
    assert envelope.occurred_at == WHEN
    assert envelope.occurred_at.tzinfo is UTC


# ------------------------------------------------------------------------ contract errors


@pytest.mark.parametrize(
    ("raw", "in_reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"not json", "not JSON"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        ("\ufeff{}".encode(), "Unexpected UTF-8 BOM"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_json(raw: bytes, in_reason: str) -> None:
    error = contract_error(raw)
    assert isinstance(error, MalformedEnvelope)
    assert error.code == "malformed_json"
    assert in_reason in error.reason


@pytest.mark.parametrize(
    ("document", "in_reason"),
    [
        ([], "must be a JSON object, got an array"),
        ("envelope", "got a string"),
        (42, "got a number"),
        (None, "got null"),
        ({}, "event_id: Field required"),
        ({"event_id": "x"}, "event_id: Input should be a valid UUID"),
        (envelope_document(schema_version="1"), "schema_version: Input should be a valid integer"),
        (envelope_document(schema_version=0), "schema_version: Input should be greater than"),
        (envelope_document(sequence=0), "sequence"),
        (envelope_document(sequence="1"), "sequence"),
        # No consumer can store it (a 64-bit column): refused here, not failing a handler.
        (envelope_document(sequence=2**63), "sequence: Input should be less than or equal"),
        (envelope_document(producer=""), "producer"),
        (envelope_document(correlation_id=7), "correlation_id: Input should be a valid string"),
        (envelope_document(event_type=None), "event_type"),
        (envelope_document(data=[1, 2]), "data: Input should be a valid dictionary"),
        (envelope_document(aggregate_id="someone-else"), "aggregate_id does not match"),
    ],
)
def test_invalid_envelope(document: Any, in_reason: str) -> None:
    error = contract_error(encode(document))
    assert isinstance(error, MalformedEnvelope)
    assert error.code == "invalid_envelope"
    assert in_reason in error.reason


@pytest.mark.parametrize("event_type", ["ParcelDelivered", "ReturnParcelReceived", "OrderPlaced"])
def test_a_uuid_key_written_in_upper_case_is_the_same_aggregate(event_type: str) -> None:
    # A warehouse that writes its UUIDs in upper case had every parcel report dead-lettered.
    document = envelope_document(event_type)
    event_class = EVENT_TYPES[event_type]
    upper = document["aggregate_id"].upper()
    document["aggregate_id"] = upper
    document["data"][event_class.key_field] = upper

    event = Envelope.from_bytes(encode(document)).parse_event()

    assert event.aggregate_id == upper.lower()


def test_a_uuid_key_is_still_compared_as_a_uuid() -> None:
    document = envelope_document(aggregate_id=str(UUID(int=7)).upper())
    error = contract_error(encode(document))
    assert isinstance(error, MalformedEnvelope)
    assert "aggregate_id does not match" in error.reason


@pytest.mark.parametrize("form", ["{%s}", "urn:uuid:%s", "no-hyphens"])
def test_only_the_case_of_a_uuid_key_may_differ(form: str) -> None:
    # Another spelling is another Kafka key, so another partition: the aggregate's events
    # would lose their order.
    order_id = example_data("OrderPlaced")["order_id"]
    written = order_id.replace("-", "") if form == "no-hyphens" else form % order_id
    error = contract_error(encode(envelope_document(aggregate_id=written)))
    assert isinstance(error, MalformedEnvelope)


def test_unknown_event_type() -> None:
    error = contract_error(encode(envelope_document(event_type="OrderTeleported")))
    assert isinstance(error, UnknownEventType)
    assert error.code == "unknown_event_type"
    assert error.reason == "unknown event_type 'OrderTeleported'"


def test_unsupported_schema_version() -> None:
    error = contract_error(encode(envelope_document(schema_version=2)))
    assert isinstance(error, UnsupportedSchemaVersion)
    assert error.code == "unsupported_schema_version"
    assert "schema_version 2" in error.reason


def test_invalid_event_data_names_the_field_and_the_rule() -> None:
    document = envelope_document()
    document["data"]["lines"][0]["quantity"] = "2"
    del document["data"]["email"]
    error = contract_error(encode(document))
    assert isinstance(error, InvalidEventData)
    assert error.code == "invalid_event_data"
    assert "data.lines.0.quantity: Input should be a valid integer" in error.reason
    assert "data.email: Field required" in error.reason
    assert (("data", "lines", 0, "quantity"), "int_type") in error.errors


def test_reasons_never_repeat_the_offending_value() -> None:
    card_number = "4111111111111111"
    document = envelope_document()
    document["data"]["payment"]["provider_token"] = f"tok_{card_number}"
    document["data"]["lines"][0]["sku"] = card_number
    document["data"]["email"] = int(card_number)
    error = contract_error(encode(document))
    assert error.code == "invalid_event_data"
    assert "card number" in error.reason
    assert card_number not in error.reason
    assert card_number not in repr(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_error_reasons_are_bounded() -> None:
    document = envelope_document()
    document["data"] = {"lines": [{"quantity": "x"}] * 50}
    error = contract_error(encode(document))
    assert "more errors" in error.reason
    assert len(error.reason) < 2_500


def test_contract_errors_share_a_base_with_code_and_reason() -> None:
    for cls in (MalformedEnvelope, UnknownEventType, UnsupportedSchemaVersion, InvalidEventData):
        assert issubclass(cls, ContractError)
    error = MalformedEnvelope("bad", code="malformed_json")
    assert (error.code, error.reason, str(error)) == (
        "malformed_json",
        "bad",
        "malformed_json: bad",
    )


# ------------------------------------------------------------------------ tolerance & more


def test_unknown_envelope_fields_are_ignored() -> None:
    document = envelope_document(trace_id="abc", tenant={"id": 1})
    assert Envelope.from_bytes(encode(document)).parse_event() == OrderPlaced.model_validate(
        example_data("OrderPlaced")
    )


def test_optional_envelope_fields_may_be_absent() -> None:
    document = envelope_document()
    del document["causation_id"], document["sequence"]
    envelope = Envelope.from_bytes(encode(document))
    assert envelope.causation_id is None
    assert envelope.sequence is None


def test_a_custom_registry_parses_events_outside_the_contract() -> None:
    class ProbeRecorded(Event):
        """A test service's own event."""

        topic: ClassVar[str] = "test.probes"
        key_field: ClassVar[str] = "probe_id"
        probe_id: str

    envelope = Envelope.wrap(ProbeRecorded(probe_id="p-1"), producer="test", correlation_id="j")
    raw = envelope.to_bytes()
    assert Envelope.from_bytes(raw).parse_event({"ProbeRecorded": ProbeRecorded}) == ProbeRecorded(
        probe_id="p-1"
    )
    with pytest.raises(UnknownEventType):
        Envelope.from_bytes(raw).parse_event()


def test_event_classes_must_declare_topic_and_key() -> None:
    with pytest.raises(TypeError, match="topic"):

        class NoTopic(Event):
            key_field: ClassVar[str] = "x"
            x: str

    with pytest.raises(TypeError, match="key_field"):

        class NoKey(Event):
            topic: ClassVar[str] = "t"
            x: str


@pytest.mark.parametrize(
    "written", ["{%s}", "urn:uuid:%s", "HEX"], ids=["braces", "urn", "no hyphens"]
)
def test_a_uuid_in_data_is_written_hyphenated_only_its_case_may_vary(written: str) -> None:
    # Review (helper 133): the contract says only a UUID's case may vary, but the models
    # took any spelling Python's UUID() reads; an id that keys a record, written so, is
    # another key.
    order_id = uuid.uuid4()
    data = example_data("OrderCompleted")
    spelled = order_id.hex if written == "HEX" else written % order_id
    with pytest.raises(ValidationError, match="hyphenated form"):
        OrderCompleted.model_validate({**data, "order_id": spelled})
    upper = OrderCompleted.model_validate({**data, "order_id": str(order_id).upper()})
    assert upper.order_id == order_id


def test_a_kept_envelope_keeps_a_newer_producers_fields_and_writes_its_own_as_read() -> None:
    # Review (helper 134): kept as it came, a known field in a spelling a later, stricter
    # version refuses could never be read back; and unknown fields had no size bound.
    event = OrderCompleted.model_validate(example_data("OrderCompleted"))
    came = Envelope.wrap(event, producer="fulfillment", correlation_id="journey-1")
    data = {**came.data, "order_id": str(event.order_id).upper(), "gift_wrap": "blue"}
    newer = came.model_copy(update={"data": data})

    kept = newer.kept(newer.parse_event())
    assert kept.data["order_id"] == str(event.order_id)
    assert kept.data["gift_wrap"] == "blue"
    for too_much in ("x" * (64 * 1024 + 1), b"a\\u0000b".decode("unicode_escape")):
        stored = newer.model_copy(update={"data": {**came.data, "gift_wrap": too_much}})
        assert "gift_wrap" not in stored.kept(stored.parse_event()).data
