"""Hypothesis strategies for hostile Kafka records, one family per kind of attack.

Each strategy draws a whole record (key, value, headers) for one topic and remembers which
card numbers it put in, so the end-state scan knows exactly what must never be found. What
a consumer should do with a record is not decided here but by ``oracle.expected_outcome``,
from the record's bytes and the contracts package: a generator can then be as wild as it
likes without hand-labelling every case.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from orderflow_contracts.examples import example_data
from orderflow_contracts.registry import EVENT_TYPES, EVENTS_BY_TOPIC

from tests.hostile.card_numbers import card_numbers, grouped, json_escaped

Headers = tuple[tuple[str, bytes | None], ...]  # Kafka allows a header without a value

HOSTILE_CORRELATION = "hostile-record"
"""The correlation id of every generated envelope: what they cause is fuzz, not a journey."""

MAX_HUGE_BYTES = 900_000
"""Largest field generated (the broker's default message limit is 1 MiB)."""


@dataclass(frozen=True)
class HostileRecord:
    kind: str
    topic: str  # the contract name, without the run's prefix
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    pans: frozenset[str] = frozenset()


# ---------------------------------------------------------------- building blocks

_ID_FIELDS = frozenset(
    {"event_id", "correlation_id", "causation_id", "aggregate_id"}
    | {"cart_id", "customer_id", "order_id", "payment_id", "refund_id", "rma_id"}
    | {"shipment_id", "claim_id", "return_request_id"}
)

header_names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=24)
header_lists = st.lists(st.tuples(header_names, st.binary(max_size=48)), max_size=3).map(tuple)
keys = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.from_regex(r"\A[a-z]{1,8}-[0-9a-f]{1,12}\Z").map(str.encode),
)


def topic_event_types(topic: str) -> list[str]:
    return sorted(cls.event_type for cls in EVENTS_BY_TOPIC.get(topic, ()))


def envelope_document(
    event_type: str,
    data: Any,
    *,
    event_id: uuid.UUID,
    schema_version: int = 1,
) -> dict[str, Any]:
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "schema_version": schema_version,
        "occurred_at": "2025-02-01T12:00:00Z",
        "producer": "fuzzer",
        "correlation_id": HOSTILE_CORRELATION,
        "causation_id": None,
        "aggregate_id": _aggregate_id(event_type, data),
        "sequence": None,
        "data": data,
    }


def _aggregate_id(event_type: str, data: Any) -> str:
    """The event's own aggregate id when ``data`` is a valid event (the contract refuses an
    envelope whose aggregate_id differs), else a placeholder."""
    event_class = EVENT_TYPES.get(event_type)
    try:
        return str(event_class.model_validate(data).aggregate_id) if event_class else "hostile"
    except Exception:
        return "hostile"


def dumps(document: Any) -> bytes:
    """Compact JSON; ``\\u0000`` and lone surrogates are written as escapes (valid JSON)."""
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def free_text_fields(data: Mapping[str, Any]) -> list[str]:
    """Top-level string fields that are not ids: where people's text goes."""
    return sorted(k for k, v in data.items() if isinstance(v, str) and k not in _ID_FIELDS)


@st.composite
def known_envelopes(draw: st.DrawFn, topic: str) -> dict[str, Any]:
    """A valid envelope of an event published on ``topic`` (contract example data)."""
    event_type = draw(st.sampled_from(topic_event_types(topic)))
    return envelope_document(event_type, example_data(event_type), event_id=draw(st.uuids()))


# ---------------------------------------------------------------- one family per attack


@st.composite
def random_bytes(draw: st.DrawFn, topic: str) -> HostileRecord:
    value = draw(st.one_of(st.none(), st.binary(max_size=512)))
    key = draw(keys)
    if value is None and key is None:  # a tombstone needs a key (Kafka refuses neither)
        key = b"tombstone"
    return HostileRecord("random_bytes", topic, key, value, draw(header_lists))


@st.composite
def truncated_json(draw: st.DrawFn, topic: str) -> HostileRecord:
    whole = dumps(draw(known_envelopes(topic)))
    cut = draw(st.integers(min_value=0, max_value=len(whole) - 1))
    return HostileRecord("truncated_json", topic, draw(keys), whole[:cut], draw(header_lists))


@st.composite
def deep_nesting(draw: st.DrawFn, topic: str, max_depth: int) -> HostileRecord:
    depth = draw(st.integers(min_value=1_000, max_value=max_depth))
    shape = draw(st.sampled_from(["arrays", "objects", "unclosed", "in_data"]))
    if shape == "arrays":
        value = b"[" * depth + b"]" * depth
    elif shape == "objects":
        value = b'{"a":' * depth + b"1" + b"}" * depth
    elif shape == "unclosed":
        value = b"[" * depth
    else:
        document = draw(known_envelopes(topic))
        document["data"] = "__DEEP__"
        value = dumps(document).replace(b'"__DEEP__"', b"[" * depth + b"]" * depth)
    return HostileRecord(f"deep_nesting.{shape}", topic, draw(keys), value)


@st.composite
def huge_field(draw: st.DrawFn, topic: str) -> HostileRecord:
    size = draw(st.integers(min_value=64_000, max_value=MAX_HUGE_BYTES - 4_000))
    filler = draw(st.sampled_from(["x", "ab ", "é", "0"]))
    text = (filler * (size // len(filler.encode()) + 1))[: size // len(filler.encode())]
    document = draw(known_envelopes(topic))
    fields = free_text_fields(document["data"])
    where = draw(st.sampled_from([*fields, "extra_field", "event_type", "aggregate_id"]))
    if where in ("event_type", "aggregate_id"):
        document[where] = text
    else:
        document["data"][where] = text
    return HostileRecord(f"huge_field.{where}", topic, draw(keys), dumps(document))


_WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    # at most 12 digits: no card number by chance (the card family puts them in on purpose)
    st.integers(min_value=-(10**12) + 1, max_value=10**12 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(-999, 999), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-999, 999), max_size=2),
)


@st.composite
def wrong_types(draw: st.DrawFn, topic: str) -> HostileRecord:
    document = draw(known_envelopes(topic))
    if draw(st.booleans()):
        field_name = draw(st.sampled_from(sorted(document["data"])))
        document["data"][field_name] = draw(_WRONG_VALUES)
        kind = "wrong_types.data"
    else:
        field_name = draw(st.sampled_from(sorted(document)))
        document[field_name] = draw(_WRONG_VALUES)
        kind = "wrong_types.envelope"
    return HostileRecord(kind, topic, draw(keys), dumps(document), draw(header_lists))


@st.composite
def foreign_type(draw: st.DrawFn, topic: str) -> HostileRecord:
    """A known event type whatever topic it belongs to, with data that may not fit it."""
    event_type = draw(st.sampled_from(sorted(EVENT_TYPES)))
    data = draw(st.one_of(st.just(example_data(event_type)), st.just({}), _WRONG_VALUES))
    document = envelope_document(event_type, data, event_id=draw(st.uuids()))
    return HostileRecord("foreign_type", topic, draw(keys), dumps(document))


_UNKNOWN_TYPE_NAMES = st.one_of(
    st.sampled_from(["OrderTeleported", "CartItemAddedV2", "PaymentRefundedTwice", "Ping"]),
    st.from_regex(r"\A[A-Z][A-Za-z]{2,30}\Z").filter(lambda name: name not in EVENT_TYPES),
)
_JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12) + 1, 10**12 - 1), st.text(max_size=20)
)
_JSON_DATA = st.dictionaries(
    st.text(max_size=10),
    st.recursive(_JSON_LEAVES, lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    max_size=4,
)


@st.composite
def unknown_type(draw: st.DrawFn, topic: str) -> HostileRecord:
    event_type = draw(_UNKNOWN_TYPE_NAMES)
    document = envelope_document(event_type, draw(_JSON_DATA), event_id=draw(st.uuids()))
    return HostileRecord("unknown_type", topic, draw(keys), dumps(document))


@st.composite
def future_version(draw: st.DrawFn, topic: str) -> HostileRecord:
    """A known event type at a schema version this code does not know, with new fields."""
    document = draw(known_envelopes(topic))
    document["schema_version"] = draw(st.integers(min_value=2, max_value=9))
    document["data"]["added_in_v2"] = draw(_JSON_DATA)
    if draw(st.booleans()):  # a v2 may drop or retype a v1 field
        field_name = draw(st.sampled_from(sorted(document["data"])))
        document["data"][field_name] = draw(_WRONG_VALUES)
    return HostileRecord("future_version", topic, draw(keys), dumps(document))


CARD_POSITIONS = (
    "string_value",
    "grouped_string",
    "escaped_string",
    "token",
    "json_number",
    "object_key",
    "envelope_producer",
    "kafka_key",
    "header_name",
    "header_value",
    "not_json",
    "unknown_type",
)


@st.composite
def card_number_anywhere(draw: st.DrawFn, topic: str) -> HostileRecord:
    pan = draw(card_numbers())
    position = draw(st.sampled_from(CARD_POSITIONS))
    document = draw(known_envelopes(topic))
    data = document["data"]
    text_field = draw(st.sampled_from(free_text_fields(data) or ["note"]))
    key: bytes | None = document["aggregate_id"].encode()
    headers: list[tuple[str, bytes]] = []
    value: bytes
    if position == "string_value":
        data[text_field] = f"card {pan} please"
    elif position == "grouped_string":
        data[text_field] = grouped(pan, draw(st.sampled_from([" ", "-"])))
    elif position == "token":
        data[text_field] = f"tok_{pan}"
    elif position == "json_number":
        data[draw(st.sampled_from(["quantity", "card_number", "amount"]))] = int(pan)
    elif position == "object_key":
        data[pan] = "x"
    elif position == "envelope_producer":
        document["producer"] = f"p{pan}"
    elif position == "kafka_key":
        key = pan.encode()
    elif position == "header_name":
        headers.append((f"x-card-{pan}", b"1"))
    elif position == "header_value":
        headers.append(("x-note", f"card={pan}".encode()))
    elif position == "unknown_type":
        document = envelope_document("CardOnFile", {"pan": pan}, event_id=draw(st.uuids()))
    if position == "escaped_string":
        data[text_field] = "__PAN__"
        value = dumps(document).replace(b"__PAN__", json_escaped(pan).encode())
    elif position == "not_json":
        value = b"PAN " + pan.encode() + b" CVV 123"
    else:
        value = dumps(document)
    return HostileRecord(
        f"card_number.{position}", topic, key, value, tuple(headers), frozenset({pan})
    )


_HOSTILE_CHARACTERS = st.sampled_from(["\x00", "\ud800", "\udfff", "\x00\ud83d", "\ufffe"])


@st.composite
def nul_and_surrogates(draw: st.DrawFn, topic: str) -> HostileRecord:
    document = draw(known_envelopes(topic))
    data = document["data"]
    fields = free_text_fields(data)
    bad = draw(_HOSTILE_CHARACTERS)
    where = draw(st.sampled_from(["data", "event_type", "producer", "key", "header", "raw"]))
    key: bytes | None = document["aggregate_id"].encode()
    headers: Headers = ()
    if where == "data" and fields:
        name = draw(st.sampled_from(fields))
        data[name] = data[name] + bad
    elif where in ("event_type", "producer"):
        document[where] = document[where] + bad
    elif where == "key":
        key = b"order-\x00-" + bad.encode("utf-8", "surrogatepass")
    elif where == "header":
        headers = (("x-nul\x00", bad.encode("utf-8", "surrogatepass")),)
    value = dumps(document)
    if where == "raw":  # the character as raw UTF-8-ish bytes, not as a JSON escape
        value = value.replace(b'"producer":"fuzzer"', b'"producer":"fuzz' + _raw(bad) + b'"')
    return HostileRecord(f"nul_surrogate.{where}", topic, key, value, headers)


@st.composite
def header_quirks(draw: st.DrawFn, topic: str) -> HostileRecord:
    """A valid envelope whose ``event_type`` header is null (Kafka allows a header without a
    value), not UTF-8 or not a contract type (misspelt): its consumers read it from the body."""
    document = draw(known_envelopes(topic))
    quirk = draw(st.sampled_from([None, document["event_type"].lower().encode(), b"\xff\xfe"]))
    headers: Headers = (("event_type", quirk), ("x-no-value", None))
    key = document["aggregate_id"].encode()
    return HostileRecord("header_quirk", topic, key, dumps(document), headers)


@st.composite
def copied_headers(draw: st.DrawFn, topic: str) -> HostileRecord:
    """A valid envelope under an ``event_type`` header naming another contract type (a client
    that copied the headers of a record it consumed), alone or beside the right one: on the
    topics other parties write the body decides; elsewhere one header is believed."""
    document = draw(known_envelopes(topic))
    other = draw(st.sampled_from(sorted(set(EVENT_TYPES) - {document["event_type"]})))
    own = ("event_type", document["event_type"].encode())
    copied = ("event_type", other.encode())
    headers: Headers = draw(st.sampled_from([(copied,), (copied, own), (own, copied)]))
    key = document["aggregate_id"].encode()
    return HostileRecord("copied_header", topic, key, dumps(document), headers)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- the mix

RecordStrategy = Callable[[str], st.SearchStrategy[HostileRecord]]


def families(max_depth: int) -> dict[str, tuple[float, RecordStrategy]]:
    """Each family with its share of a topic's records (a family always gets at least one)."""
    return {
        "random_bytes": (0.10, random_bytes),
        "truncated_json": (0.10, truncated_json),
        "deep_nesting": (0.04, lambda topic: deep_nesting(topic, max_depth)),
        "huge_field": (0.004, huge_field),
        "wrong_types": (0.15, wrong_types),
        "foreign_type": (0.07, foreign_type),
        "unknown_type": (0.10, unknown_type),
        "future_version": (0.10, future_version),
        "card_number": (0.18, card_number_anywhere),
        "header_quirk": (0.02, header_quirks),
        "copied_header": (0.02, copied_headers),
        "nul_surrogate": (0.126, nul_and_surrogates),
    }
