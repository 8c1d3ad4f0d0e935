"""Read what is on the topics, without a consumer group (no side effects on anyone's offsets).

The ops tools work from the event log alone, like an auditor: the topics are the system's
shared record, and no tool may read a service's schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderflow_chassis.topic_reader import read_to_end
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError


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

    @property
    def occurred_at(self) -> datetime | None:
        if self.envelope is not None:
            return self.envelope.occurred_at
        stated = (self.raw or {}).get("occurred_at")
        try:
            return datetime.fromisoformat(stated) if isinstance(stated, str) else None
        except ValueError:
            return None

    @property
    def data(self) -> dict[str, Any]:
        if self.envelope is not None:
            return dict(self.envelope.data)
        raw_data = (self.raw or {}).get("data")
        return raw_data if isinstance(raw_data, dict) else {}


def contract_topics(prefix: str = "", *, dead_letters: bool = True) -> list[str]:
    names = [prefix + topic for topic in topics.ALL_TOPICS]
    if dead_letters:
        names += [topics.dead_letter_topic(name) for name in names]
    return names


async def read_log(bootstrap_servers: str, topic_names: Sequence[str]) -> list[LoggedEvent]:
    """Everything currently on ``topic_names`` (missing topics are skipped)."""
    return [_logged(record) for record in await read_to_end(bootstrap_servers, topic_names)]


def _logged(record: Any) -> LoggedEvent:
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
    dead_letter = {k.removeprefix("dlq."): v for k, v in headers.items() if k.startswith("dlq.")}
    value: bytes = record.value or b""
    envelope: Envelope | None = None
    raw: dict[str, Any] | None = None
    try:
        envelope = Envelope.from_bytes(value)
    except ContractError:
        try:
            decoded = json.loads(value)
            raw = decoded if isinstance(decoded, dict) else None
        except ValueError:
            raw = None
    return LoggedEvent(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        envelope=envelope,
        raw=raw,
        dead_letter=dead_letter,
    )
