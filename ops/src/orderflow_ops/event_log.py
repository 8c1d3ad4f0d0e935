"""Read what is on the topics, without a consumer group (no side effects on anyone's offsets).

The ops tools work from the event log alone, like an auditor: the topics are the system's
shared record, and no tool may read a service's schema.

Any bytes can be on a topic. A record is *readable* when it is a valid envelope of a known
event whose data passes the contract; every other record (bad JSON, deep nesting, wrong
types, a timestamp without a time zone, an unknown event type) is kept with the reason it
cannot be read, so the tools count and show it instead of failing on it. Records on a
dead-letter topic are dead letters, not unreadable records: they are expected to hold what
could not be applied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import structlog
from orderflow_chassis.topic_reader import read_to_end
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError
from orderflow_contracts.events import Event

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LoggedEvent:
    """One record of a topic: its envelope when it has a valid one, its position always."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    envelope: Envelope | None
    raw: dict[str, Any] | None = None  # the decoded JSON when the envelope is invalid
    dead_letter: dict[str, str] = field(default_factory=dict)  # dlq.* headers, if any
    envelope_error: str | None = None  # why the value is not a valid envelope
    key: bytes | None = None  # the Kafka key as read (b"" for none); None when not known

    @property
    def occurred_at(self) -> datetime | None:
        """When it happened, always with a time zone (None when unknown or naive)."""
        if self.envelope is not None:
            return self.envelope.occurred_at
        stated = (self.raw or {}).get("occurred_at")
        try:
            parsed = datetime.fromisoformat(stated) if isinstance(stated, str) else None
        except ValueError:
            return None
        # A naive time cannot be placed among the others (the contract requires a zone).
        return parsed if parsed is not None and parsed.utcoffset() is not None else None

    @property
    def data(self) -> dict[str, Any]:
        if self.envelope is not None:
            return dict(self.envelope.data)
        raw_data = (self.raw or {}).get("data")
        return raw_data if isinstance(raw_data, dict) else {}

    @cached_property
    def _parsed(self) -> Event | str:
        if self.envelope is None:
            return self.envelope_error or "not a valid envelope"
        try:
            event = self.envelope.parse_event()
        except (ContractError, ValueError, RecursionError) as error:
            return str(error) or type(error).__name__
        # What every service refuses is no fact (the chassis' wrong_topic, invalid_envelope).
        home = _contract_topic_of(self.topic)
        if home is not None and home != type(event).topic:
            return f"a {event.event_type} is published on {type(event).topic}, not on {home}"
        if self.key is not None and self.key != self.envelope.key:
            return "the Kafka key is not the envelope's aggregate_id"
        return event

    @property
    def event(self) -> Event | None:
        """The event, checked against the contract; None when it does not pass."""
        return self._parsed if isinstance(self._parsed, Event) else None

    @property
    def unreadable(self) -> str | None:
        """Why this record cannot be read as an event; None for events and dead letters."""
        if self.dead_letter or self.is_dead_letter_topic:
            return None
        return self._parsed if isinstance(self._parsed, str) else None

    @property
    def is_dead_letter_topic(self) -> bool:
        return self.topic.endswith(".dlq")

    @property
    def position(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def contract_topics(prefix: str = "", *, dead_letters: bool = True) -> list[str]:
    names = [prefix + topic for topic in topics.ALL_TOPICS]
    if dead_letters:
        names += [topics.dead_letter_topic(name) for name in names]
    return names


async def read_log(bootstrap_servers: str, topic_names: Sequence[str]) -> list[LoggedEvent]:
    """Everything currently on ``topic_names`` (missing topics are skipped)."""
    return [logged(record) for record in await read_to_end(bootstrap_servers, topic_names)]


def logged(record: Any) -> LoggedEvent:
    """A consumer record as a :class:`LoggedEvent`; never raises, whatever the bytes."""
    headers = {
        str(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for k, v in (record.headers or ())
    }
    dead_letter = {k.removeprefix("dlq."): v for k, v in headers.items() if k.startswith("dlq.")}
    value: bytes = record.value or b""
    envelope: Envelope | None = None
    raw: dict[str, Any] | None = None
    error: str | None = None
    try:
        envelope = Envelope.from_bytes(value)
    except ContractError as invalid:
        error = str(invalid)
        raw = _json_object(value)
    return LoggedEvent(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        envelope=envelope,
        raw=raw,
        dead_letter=dead_letter,
        envelope_error=error,
        key=(record.key or b"") if hasattr(record, "key") else None,
    )


def _contract_topic_of(topic: str) -> str | None:
    """The contract topic ``topic`` is (behind its deployment prefix): the longest contract
    name it ends with (``storefront.carts``, not ``carts``); None for a dead-letter topic or
    one the contract does not name."""
    if topic.endswith(".dlq"):
        return None
    names = [name for name in topics.ALL_TOPICS if topic == name or topic.endswith("." + name)]
    names += [name for name in topics.ALL_TOPICS if topic.endswith(name) and name not in names]
    return max(names, key=len) if names else None


def _json_object(value: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
        return None
    return decoded if isinstance(decoded, dict) else None


def stored_envelope(text: str) -> Envelope | None:
    """A stored envelope as the order's page shows it. One stored before unknown fields with
    a lone surrogate were left out (which pydantic's JSON parser refuses, and a page could
    not encode) is read with Python's parser and shown as its event reads; one that still
    cannot be read is left out of the page, not the page's failure."""
    try:
        return Envelope.model_validate_json(text)
    except ValueError:
        pass
    try:
        envelope = Envelope.model_validate(json.loads(text))
        return envelope.as_read(envelope.parse_event())
    except Exception as error:
        log.warning("console.stored_envelope_unreadable", error=type(error).__name__)
        return None
