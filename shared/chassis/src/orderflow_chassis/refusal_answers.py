"""Answers to records refused before their handler saw them.

A record the chassis refuses (card data, a contract violation, bytes it cannot read), or a
handler refuses (a ``PermanentError``, or failures past the handler's attempts), is
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from aiokafka import ConsumerRecord
from orderflow_contracts.card_data import contains_card_number, redact_card_numbers
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.primitives import is_storable_text
from orderflow_contracts.registry import EVENT_TYPES

from orderflow_chassis.consumer_records import header
from orderflow_chassis.database import Connection
from orderflow_chassis.inbox import Inbox
from orderflow_chassis.outbox import EmittedEvents

log = structlog.get_logger(__name__)

_ID: Final = re.compile(r"\S{1,200}")


@dataclass(frozen=True)
class RefusedRecord:
    """What can safely be read of a refused record; a field is None when it cannot be."""

    code: str
    reason: str  # card numbers redacted (the dead letter's reason)
    by_handler: bool  # False: refused before any handler saw it (card data, the contract)
    event_type: str | None  # a contract type: the body's, else the ``event_type`` header's
    key: str | None  # the envelope's aggregate_id when it names one, else the Kafka key as text
    event_id: str | None  # the envelope's, when a UUID
    correlation_id: str | None  # the envelope's
    data_ids: Mapping[str, str] = field(default_factory=dict)
    """The event's top-level fields whose values read as ids (a request's or claim's id)."""


RefusalAnswer = Callable[[RefusedRecord], Event | None]
"""The event that answers a refused record's sender (see the module docstring), or None."""


class RefusalAnswers:
    """A subscription's answers to the records it dead-letters, emitted in the letter's
    transaction. Nothing here may stall the partition: whatever fails (hostile bytes, a bug of
    the answer, ids no envelope takes) leaves the dead letter unanswered, and is logged."""

    def __init__(
        self,
        answer: RefusalAnswer | None,
        *,
        producer: str,
        inbox: Inbox | None = None,
        consumer: str = "",
    ) -> None:
        self._answer = answer
        self._producer = producer
        self._inbox = inbox  # where a copy of a record answered before is found
        self._consumer = consumer

    async def answer(
        self,
        connection: Connection | None,
        record: ConsumerRecord,
        code: str,
        reason: str,
        emitted: EmittedEvents,
        *,
        by_handler: bool = False,
    ) -> None:
        """Answer ``record``'s sender, once: a copy of the record (a producer's retry) is
        dead-lettered again, as a record of its own, but not answered again."""
        if self._answer is None:
            return
        try:
            read = read_refused(record, code, reason, by_handler=by_handler)
            event = self._answer(read)
            if event is None:
                return
            correlation_id, causation_id = self._ids(event, read, record)
        except Exception:
            log.exception("consumer.refusal_answer_failed", error_code=code)
            return
        if await self._answered_before(connection, record):  # only records it answers
            log.info("consumer.refusal_answered_before", error_code=code)
            return
        await emitted(event, correlation_id=correlation_id, causation_id=causation_id, topic=None)

    async def _answered_before(self, connection: Connection | None, record: ConsumerRecord) -> bool:
        if self._inbox is None or connection is None:
            return False
        return not await self._inbox.first_refusal(connection, self._consumer, record)

    def _ids(
        self, event: Event, read: RefusedRecord, record: ConsumerRecord
    ) -> tuple[str, str | None]:
        """The answer's correlation and causation: the refused record's own ids when an
        envelope takes them, else its address. Checked now, as the outbox will wrap it: an
        answer the outbox refused would roll the batch back, dead letter and all, for ever."""
        address = f"{record.topic}:{record.partition}:{record.offset}"
        candidates = [(read.correlation_id or read.event_id or address, read.event_id)]
        candidates.append((address, None))
        for correlation_id, causation_id in candidates:
            envelope = Envelope.wrap(
                event,
                producer=self._producer,
                correlation_id=correlation_id,
                causation_id=causation_id,
            )
            if is_storable_text(envelope.data):
                return correlation_id, causation_id
        raise ValueError("the answer holds text the outbox cannot store")


def read_refused(
    record: ConsumerRecord, code: str, reason: str, *, by_handler: bool = False
) -> RefusedRecord:
    body = _body(record.value)
    event_type = _contract_type(body.get("event_type")) or _contract_type(
        header(record, "event_type")
    )
    data = body.get("data")
    # The aggregate the envelope names, when it names one: a record keyed otherwise (refused
    # for it) is answered to the aggregate its sender meant, not to the key's.
    aggregate = _id_or_none(body.get("aggregate_id"))
    return RefusedRecord(
        code=code,
        reason=redact_card_numbers(reason),
        by_handler=by_handler,
        event_type=event_type,
        key=aggregate if aggregate is not None else _id_or_none(_text(record.key)),
        event_id=_uuid(body.get("event_id")),
        correlation_id=_id_or_none(body.get("correlation_id")),
        data_ids={
            name: value
            for name, value in (data.items() if isinstance(data, dict) else ())
            if isinstance(name, str) and _id_or_none(value) is not None
        },
    )


def _contract_type(value: object) -> str | None:
    return value if isinstance(value, str) and value in EVENT_TYPES else None


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


def _id_or_none(value: object) -> str | None:
    """``value`` when it reads as an id an envelope and the outbox take, holding no card
    number; else None."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        return None
    if not is_storable_text(value) or contains_card_number(value, identifier=True):
        return None
    return value


def _uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
