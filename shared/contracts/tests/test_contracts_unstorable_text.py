"""Text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates) breaks the
contract: it is refused when a message is decoded, with a reason code, instead of failing the
handler that would store it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from orderflow_contracts import Envelope, InvalidEventData, MalformedEnvelope
from orderflow_contracts.examples import example_event
from orderflow_contracts.primitives import is_storable_text, json_text_is_storable

UNSTORABLE = ["bad \u0000 byte", "\u0000", "lone \ud800 surrogate", "trailing \udfff"]


def document(event_type: str) -> dict[str, Any]:
    envelope = Envelope.wrap(example_event(event_type), producer="t", correlation_id="journey")
    parsed: dict[str, Any] = json.loads(envelope.to_bytes())
    return parsed


def encoded(doc: dict[str, Any]) -> bytes:
    # json.dumps writes NUL as \\u0000 and a lone surrogate as \\ud800: valid JSON text.
    return json.dumps(doc).encode()


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize(
    ("event_type", "path"),
    [
        ("ReturnRequested", ("reason",)),
        ("WarrantyClaimFiled", ("defect_description",)),
        ("CartItemAdded", ("cart_id",)),
    ],
)
def test_unstorable_text_in_an_event_field_is_invalid_event_data(
    text: str, event_type: str, path: tuple[str, ...]
) -> None:
    doc = document(event_type)
    doc["data"][path[0]] = text
    raw = encoded(doc)
    # As any caller parses, and as the consumer does (with the bytes, so that a clean
    # document may skip the field-by-field check): both refuse it.
    for given in (None, raw):
        with pytest.raises(InvalidEventData) as refused:
            Envelope.from_bytes(raw).parse_event(raw=given)
        assert refused.value.code == "invalid_event_data"
        assert f"data.{path[0]}" in refused.value.reason


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["correlation_id", "aggregate_id", "producer"])
def test_unstorable_text_in_the_envelope_is_an_invalid_envelope(text: str, field: str) -> None:
    doc = document("OrderCompleted")
    doc[field] = f"x{text}"
    with pytest.raises(MalformedEnvelope) as refused:
        Envelope.from_bytes(encoded(doc))
    assert refused.value.code == "invalid_envelope"
    assert field in refused.value.reason


def test_nested_text_in_lists_is_checked_too() -> None:
    doc = document("ReturnRequested")
    doc["data"]["lines"][0]["sku"] = "SKU\u0000"
    raw = encoded(doc)
    with pytest.raises(InvalidEventData):
        Envelope.from_bytes(raw).parse_event()
    with pytest.raises(InvalidEventData):
        Envelope.from_bytes(raw).parse_event(raw=raw)


def test_only_documents_without_such_escapes_skip_the_field_by_field_check() -> None:
    # What the consumer skips checking must be exactly what cannot hold such text.
    clean = encoded(document("ReturnRequested"))
    assert json_text_is_storable(clean)
    assert json_text_is_storable('{"a": "caf\u00e9 ü \\n"}'.encode())
    for escape in ("\\u0000", "\\uD800", "\\udfff", "\\uDbFf"):
        assert not json_text_is_storable(f'{{"a": "x{escape}"}}'.encode()), escape
    # A surrogate pair (an emoji) is valid text: it is merely looked at closer, and accepted.
    doc = document("ReturnRequested")
    doc["data"]["reason"] = "broken \U0001f494"
    raw = encoded(doc)
    assert not json_text_is_storable(raw)
    assert Envelope.from_bytes(raw).parse_event(raw=raw).reason == "broken \U0001f494"  # type: ignore[attr-defined]


def test_unknown_fields_with_such_text_are_ignored_like_every_unknown_field() -> None:
    doc = document("ReturnRequested")
    doc["data"]["note_from_a_newer_producer"] = "a\u0000b"
    Envelope.from_bytes(encoded(doc)).parse_event()


def test_the_check_walks_deep_values_without_recursion() -> None:
    deep: Any = "a\u0000b"
    for _ in range(100_000):
        deep = [deep]
    assert not is_storable_text(deep)
    assert is_storable_text({"k": ["fine", ("tuple",)], "é": "ü"})
    assert not is_storable_text({"k\ud800": 1})


def test_every_field_holding_such_text_is_named_in_nested_models_too() -> None:
    doc = document("OrderPlaced")
    doc["data"]["ship_to"]["recipient_name"] = "Ada \u0000"
    doc["data"]["ship_to"]["city"] = "Berlin \u0000"
    raw = encoded(doc)
    for given in (None, raw):
        with pytest.raises(InvalidEventData) as refused:
            Envelope.from_bytes(raw).parse_event(raw=given)
        for location in ("data.ship_to.recipient_name", "data.ship_to.city"):
            assert f"{location}: Value error, text must not contain NUL" in refused.value.reason
