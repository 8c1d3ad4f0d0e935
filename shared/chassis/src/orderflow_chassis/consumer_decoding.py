"""Screening and decoding one consumed record: applied, passed over, or refused.

No database and no broker here: the batch applier (:mod:`orderflow_chassis.batch_applier`)
dead-letters what this refuses, in its batch's transaction. Screening and decoding are bounded,
so any failure of theirs is a refusal too, never a stalled partition.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError, MalformedEnvelope
from orderflow_contracts.events import Event
from orderflow_contracts.registry import EVENT_TYPES

from orderflow_chassis.card_data_guard import CardDataGuard
from orderflow_chassis.consumer_records import header
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.subscriptions import Handler, RecordInspector

UNDECODABLE = "undecodable"
WRONG_TOPIC = "wrong_topic"
"""An event on a topic its contract does not publish it on, which this consumer reads too."""


@dataclass(frozen=True)
class Decoded:
    """A record that passed screening and decoding, with the handler of its event type."""

    record: ConsumerRecord
    envelope: Envelope
    event: Event
    handler: Handler


@dataclass(frozen=True)
class PassedOver:
    """A record this consumer does not apply: another service's type, or a newer version."""

    event_type: str
    outcome: str  # "ignored" or "skipped_newer_version"


@dataclass(frozen=True)
class Refused:
    """A record to dead-letter: a contract violation or a screening refusal."""

    code: str
    reason: str
    error: BaseException | None = None
    event_type: str = ""  # known once the envelope is read


class RecordDecoder:
    """Screens (card data, the subscription's own inspection) and decodes records for the
    handlers of one subscription."""

    def __init__(
        self,
        handlers: Mapping[type[Event], Handler],
        inspect_record: RecordInspector | None = None,
        *,
        headers_not_trusted_on: Collection[str] = (),
        home_topics: Mapping[str, str] | None = None,
    ) -> None:
        self.handlers = {cls.event_type: (cls, handler) for cls, handler in handlers.items()}
        self._inspect_record = inspect_record
        self._card_guard = CardDataGuard()
        # Topics other parties write: their records are always read from the body.
        self._headers_not_trusted_on = frozenset(headers_not_trusted_on)
        # Event type -> the topic the contract publishes it on, among those read here.
        self._home_topics = dict(home_topics or {})

    def passes_over(self, records: Sequence[ConsumerRecord]) -> bool:
        """Whether every one of ``records`` announces (in its ``event_type`` header) a type
        without a handler here and passes screening: the batch is passed over without being
        decoded. Topics are shared, and a newer producer may publish types (or versions) this
        consumer does not know. The headers are read first, so a batch holding a record to
        apply is screened once, by :meth:`decode`."""
        return all(self._unhandled(self._announced(r)) for r in records) and all(
            self._screened(r) is None for r in records
        )

    def _announced(self, record: ConsumerRecord) -> str | None:
        """The type the record's ``event_type`` header announces, where Orderflow's own
        outboxes wrote it (one header, as they write it); None elsewhere, or when the record
        has several (one copied from another record, say): then the body says."""
        if record.topic in self._headers_not_trusted_on:
            return None
        found = [name for name, _ in record.headers or () if name == "event_type"]
        return header(record, "event_type") if len(found) == 1 else None

    def _unhandled(self, announced: str | None) -> bool:
        """Whether the header names a contract type without a handler here. A name the
        contract does not know (a newer producer's type, or a header that misspells the
        body's type) is read from the body instead: a valid event sent with a wrong header
        was passed over unread, and its sender got no answer."""
        return announced in EVENT_TYPES and announced not in self.handlers

    def decode(self, record: ConsumerRecord) -> Decoded | PassedOver | Refused:
        announced = self._announced(record)
        if announced is not None and self._unhandled(announced):
            # Never decoded here, but screened: a card number is refused by every consumer
            # that reads the record, whatever type it claims to be.
            return self._screened(record, announced) or PassedOver(announced, "ignored")
        refused = self._screened(record)
        if refused is not None:
            return refused
        try:
            envelope = Envelope.from_bytes(record.value or b"")
        except MemoryError:  # the process's, not the record's: retried, never refused
            raise
        except Exception as error:  # bounded work: refuse the record, never rewind on it
            if announced is not None and announced not in EVENT_TYPES:
                # A type the contract does not know, in a shape we cannot read: the future
                # (decision 16), not a contract violation.
                return PassedOver(announced, "ignored")
            if isinstance(error, ContractError):
                return Refused(error.code, error.reason, error)
            return _undecodable(error)

        registered = self.handlers.get(envelope.event_type)
        if registered is None:
            return PassedOver(envelope.event_type, "ignored")
        event_class, handler = registered
        home = self._home_topics.get(envelope.event_type)
        if home is not None and record.topic != home:
            # Only its producer may publish it (a warehouse's PaymentCaptured would ship an
            # unpaid order; a storefront's ShipmentDelivered would open a return window).
            reason = f"a {envelope.event_type} is published on {home}, not on {record.topic}"
            return Refused(WRONG_TOPIC, reason, None, envelope.event_type)
        if envelope.schema_version > event_class.schema_version:
            return PassedOver(envelope.event_type, "skipped_newer_version")
        try:
            event = envelope.parse_event({envelope.event_type: event_class}, raw=record.value)
        except ContractError as error:
            return Refused(error.code, error.reason, error, envelope.event_type)
        except MemoryError:  # the process's, not the record's: retried, never refused
            raise
        except Exception as error:  # a validator's bug must refuse the record, not rewind on it
            return _undecodable(error, envelope.event_type)
        if record.key != envelope.key:
            # Keyed otherwise, it went to another partition than its aggregate's other events,
            # and nothing keeps it in their order.
            reason = "the Kafka key is not the envelope's aggregate_id, as the contract keys it"
            return Refused(MalformedEnvelope.INVALID_ENVELOPE, reason, None, envelope.event_type)
        return Decoded(record, envelope, event, handler)

    def _screened(self, record: ConsumerRecord, event_type: str = "") -> Refused | None:
        """The record's refusal by the card-data guard or the subscription's own inspection."""
        try:
            self._card_guard(record)
            if self._inspect_record is not None:
                self._inspect_record(record)
        except (ContractError, PermanentError) as error:
            return Refused(error.code, error.reason, error, event_type)
        except MemoryError:  # the process's, not the record's: retried, never refused
            raise
        except Exception as error:  # bounded work: refuse the record, never rewind on it
            return _undecodable(error, event_type)
        return None


def _undecodable(error: Exception, event_type: str = "") -> Refused:
    reason = f"the record could not be screened or decoded: {type(error).__name__}"
    return Refused(UNDECODABLE, reason, event_type=event_type)
