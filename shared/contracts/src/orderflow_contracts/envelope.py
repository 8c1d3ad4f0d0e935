"""The JSON envelope every Kafka message value is (the contracts README describes each field).

```
{"event_id": "<uuid>", "event_type": "OrderPlaced", "schema_version": 1,
 "occurred_at": "2025-01-31T12:00:00Z", "producer": "cart",
 "correlation_id": "<id shared by one customer journey>", "causation_id": "<event_id or null>",
 "aggregate_id": "<the Kafka key>", "sequence": 7, "data": {...}}
```

Consuming is two steps, so each failure has its own code for the dead letter:
`Envelope.from_bytes(raw)` checks the envelope (`malformed_json`, `invalid_envelope`), then
`envelope.parse_event()` checks the event (`unknown_event_type`, `unsupported_schema_version`,
`invalid_event_data`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final
from uuid import UUID

import jiter
from pydantic import Field, StringConstraints, ValidationError

from orderflow_contracts.errors import (
    InvalidEventData,
    MalformedEnvelope,
    UnknownEventType,
    UnsupportedSchemaVersion,
    summarize_errors,
)
from orderflow_contracts.events.base import Event
from orderflow_contracts.primitives import (
    IDENTIFIER_PATTERN,
    TEXT_CHECKED,
    ContractModel,
    UtcDatetime,
    Uuid,
    is_storable_text,
    json_text_is_storable,
)
from orderflow_contracts.registry import EVENT_TYPES
from orderflow_contracts.uuids import uuid7

SCHEMA_VERSION: Final = 1

_Token = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]


MAX_SEQUENCE: Final = 2**63 - 1
"""The largest ``sequence``: a consumer stores it as a 64-bit integer."""


KEPT_UNKNOWN_BYTES: Final = 64 * 1024
"""The most a stored envelope keeps of ``data``'s unknown fields (:meth:`Envelope.kept`)."""


class Envelope(ContractModel):
    """One Kafka message value: metadata about an event, and the event itself in `data`."""

    # The event's own model refuses unstorable text in `data`, naming the field
    # (invalid_event_data); unknown fields there are ignored, never stored.
    text_checked_elsewhere: ClassVar[frozenset[str]] = frozenset({"data"})

    event_id: Uuid = Field(
        description="Unique per event; consumers record it to skip duplicate deliveries."
    )
    event_type: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The event's name, e.g. OrderPlaced: says how to read `data`."
    )
    schema_version: Annotated[int, Field(ge=1)] = Field(
        description="Version of the event's schema; 1 for the whole v1 contract."
    )
    occurred_at: UtcDatetime = Field(description="When the fact happened, RFC 3339 in UTC.")
    producer: Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)] = Field(
        description="The service or system that published the event, e.g. 'cart'."
    )
    correlation_id: _Token = Field(
        description="Shared by every event of one customer journey (a cart's checkout and "
        "everything that follows from it)."
    )
    causation_id: _Token | None = Field(
        default=None, description="The event_id of the event that caused this one, if any."
    )
    aggregate_id: _Token = Field(
        description="The aggregate the event belongs to (cart, order, shipment, RMA or "
        "warehouse id): the Kafka message key."
    )
    sequence: Annotated[int, Field(ge=1, le=MAX_SEQUENCE)] | None = Field(
        default=None,
        description="Position of this event among the events one producer published for one "
        "aggregate (1, 2, 3...), so consumers can detect gaps and reordering. Counted per "
        "(producer, aggregate_id); absent when the producer does not number its events. At "
        "most 2^63 - 1, what every consumer can store.",
    )
    data: dict[str, Any] = Field(description="The event's fields.")

    # ------------------------------------------------------------------ producing

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        producer: str,
        correlation_id: str,
        causation_id: str | None = None,
        sequence: int | None = None,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        """An envelope around `event`. `occurred_at` must be timezone-aware (default: now)."""
        return cls.model_validate(
            {
                "event_id": event_id or uuid7(),
                "event_type": event.event_type,
                "schema_version": event.schema_version,
                "occurred_at": occurred_at or datetime.now(UTC),
                "producer": producer,
                "correlation_id": correlation_id,
                "causation_id": causation_id,
                "aggregate_id": event.aggregate_id,
                "sequence": sequence,
                "data": event.model_dump(mode="json"),
            }
        )

    def as_read(self, event: Event) -> Envelope:
        """This envelope with its ``data`` as ``event``, parsed from it, writes it: the fields
        the contract defines, without the unknown ones it ignores."""
        return self.model_copy(update={"data": event.model_dump(mode="json")})

    def kept(self, event: Event) -> Envelope:
        """This envelope as a store keeps it to read again later (``event`` is its event, as
        parsed): its fields as the event writes them (a UUID in lower case: a stricter
        version reads it back), with the top-level fields of ``data`` this version does not
        know, so that a newer version reading it back (a rolling upgrade) gets what a newer
        producer sent. Without them (:meth:`as_read`) when a string in them cannot be stored
        (a NUL: PostgreSQL's jsonb refuses it; a lone surrogate: no UTF-8 JSON writes it) or
        they are larger than the contract's own fields may be (:data:`KEPT_UNKNOWN_BYTES`)."""
        known = event.model_dump(mode="json")
        unknown = {name: value for name, value in self.data.items() if name not in known}
        if not unknown or not is_storable_text(unknown):
            return self.as_read(event)
        try:
            size = len(json.dumps(unknown, ensure_ascii=False).encode("utf-8"))
        except (TypeError, ValueError):
            return self.as_read(event)
        if size > KEPT_UNKNOWN_BYTES:
            return self.as_read(event)
        return self.model_copy(update={"data": {**known, **unknown}})

    def to_bytes(self) -> bytes:
        """The message value: compact UTF-8 JSON."""
        return self.model_dump_json().encode("utf-8")

    @property
    def key(self) -> bytes:
        """The Kafka message key: the aggregate id, UTF-8."""
        return self.aggregate_id.encode("utf-8")

    # ------------------------------------------------------------------ consuming

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Parse a message value; raise `MalformedEnvelope` saying why it is not an envelope."""
        raw = bytes(raw)  # a bytearray or memoryview too (the same object when bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedEnvelope(
                f"message is not valid UTF-8 (invalid byte at offset {exc.start})",
                code=MalformedEnvelope.MALFORMED_JSON,
            ) from None
        try:
            document = _parse_json(raw, text)
        except json.JSONDecodeError as exc:
            raise MalformedEnvelope(
                f"message is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                code=MalformedEnvelope.MALFORMED_JSON,
            ) from None
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, _JsonRefusal) else "unreadable JSON value"
            if isinstance(exc, RecursionError):
                reason = "JSON nested too deeply"
            raise MalformedEnvelope(
                f"message is not acceptable JSON: {reason}",
                code=MalformedEnvelope.MALFORMED_JSON,
            ) from None
        if not isinstance(document, dict):
            raise MalformedEnvelope(
                f"envelope must be a JSON object, got {_json_type(document)}",
                code=MalformedEnvelope.INVALID_ENVELOPE,
            )
        context = TEXT_CHECKED if json_text_is_storable(raw) else None
        try:
            return cls.model_validate(document, context=context)
        except ValidationError as exc:
            raise MalformedEnvelope(
                f"invalid envelope: {summarize_errors(exc.errors(include_input=False))}",
                code=MalformedEnvelope.INVALID_ENVELOPE,
            ) from None

    def parse_event(
        self, registry: Mapping[str, type[Event]] | None = None, *, raw: bytes | None = None
    ) -> Event:
        """The event in `data`, validated against its class in `registry` (default: every v1
        event). Raises `UnknownEventType`, `UnsupportedSchemaVersion` or `InvalidEventData`;
        and `MalformedEnvelope` when `aggregate_id` is not the event's own aggregate id.

        `raw`, the bytes this envelope was decoded from, lets a clean document skip checking
        its text field by field (:func:`~orderflow_contracts.primitives.json_text_is_storable`).
        """
        event_class = (EVENT_TYPES if registry is None else registry).get(self.event_type)
        if event_class is None:
            raise UnknownEventType(self.event_type)
        if self.schema_version != event_class.schema_version:
            raise UnsupportedSchemaVersion(
                self.event_type, self.schema_version, event_class.schema_version
            )
        try:
            context = TEXT_CHECKED if raw is not None and json_text_is_storable(raw) else None
            event = event_class.model_validate(self.data, context=context)
        except ValidationError as exc:
            raise InvalidEventData(
                self.event_type, exc.errors(include_input=False, include_url=False)
            ) from None
        if event.aggregate_id != self.aggregate_id and not _same_uuid(event, self.aggregate_id):
            raise MalformedEnvelope(
                f"aggregate_id does not match data.{event.key_field} of {self.event_type}",
                code=MalformedEnvelope.INVALID_ENVELOPE,
            )
        return event


def _same_uuid(event: Event, aggregate_id: str) -> bool:
    """Whether the event's key is a UUID that ``aggregate_id`` writes in upper case (or mixed).
    Only the case: braces, a ``urn:uuid:`` prefix or no hyphens would be another Kafka key,
    another partition, and the aggregate's events would lose their order."""
    key = getattr(event, event.key_field)
    return isinstance(key, UUID) and aggregate_id.lower() == str(key)


class _JsonRefusal(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _JsonRefusal(f"{name} is not a JSON number")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _JsonRefusal(f"duplicate key {key[:100]!r}")
            seen.add(key)
    return document


_DECODER: Final = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicate_keys
)
"""One decoder for every message: ``json.loads`` with hooks builds a new one (and its scanner)
per call, an eighth of the parse."""


def _parse_json(raw: bytes, text: str) -> Any:
    """``raw`` (whose UTF-8 is ``text``) parsed by jiter, in Rust, with the same refusals as the
    decoder above (duplicate keys, NaN and Infinity): about 60 % of its time. Whatever jiter
    refuses is parsed again by the decoder, whose verdict and message stand: the two differ
    only on input jiter refuses (a lone surrogate escape, which the contract refuses later with
    its own reason code; a BOM; a malformed document, described in the stdlib's words)."""
    try:
        return jiter.from_json(
            raw, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys"
        )
    except ValueError:
        pass
    if text.startswith("\ufeff"):  # json.loads refuses it with this message; decode() does not
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
