"""Answers to records refused before their handler saw them.

A record the chassis refuses (card data, a contract violation, bytes it cannot read) is
dead-lettered with its cause. Some senders wait for an answer all the same: the storefront
waits on its checkout. A subscription that answers its senders names a :data:`RefusalAnswer`:
it is given what can safely be read of the refused record and returns the event to publish,
in the dead letter's transaction, or None.

Nothing read here may carry card data out: a key or correlation id holding a card number is
left out, and the refusal's reason is redacted, as the dead letter's is.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import ConsumerRecord
from orderflow_contracts.card_data import contains_card_number, redact_card_numbers
from orderflow_contracts.events import Event
from orderflow_contracts.registry import EVENT_TYPES

from orderflow_chassis.consumer_decoding import Refused
from orderflow_chassis.consumer_records import header

_ID: Final = re.compile(r"\S{1,200}")


@dataclass(frozen=True)
class RefusedRecord:
    """What can safely be read of a refused record; a field is None when it cannot be."""

    code: str
    reason: str  # card numbers redacted
    event_type: str | None  # a contract type: the body's, else the ``event_type`` header's
    key: str | None  # the Kafka key as text
    event_id: str | None  # the envelope's, when a UUID
    correlation_id: str | None  # the envelope's


RefusalAnswer = Callable[[RefusedRecord], Event | None]
"""The event that answers a refused record's sender (see the module docstring), or None."""


def read_refused(record: ConsumerRecord, refused: Refused) -> RefusedRecord:
    body = _body(record.value)
    event_type = body.get("event_type")
    if event_type not in EVENT_TYPES:
        event_type = header(record, "event_type")
    key = _text(record.key)
    return RefusedRecord(
        code=refused.code,
        reason=redact_card_numbers(refused.reason),
        event_type=event_type if event_type in EVENT_TYPES else None,
        key=key if key is not None and _safe_id(key) else None,
        event_id=_uuid(body.get("event_id")),
        correlation_id=_id_or_none(body.get("correlation_id")),
    )


def _body(value: bytes | None) -> dict[str, Any]:
    try:
        loaded = json.loads(value or b"")
    except Exception:  # any bytes at all: nothing read
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _text(raw: bytes | None) -> str | None:
    try:
        return raw.decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        return None


def _safe_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None and not contains_card_number(text, identifier=True)


def _id_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and _safe_id(value) else None


def _uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
