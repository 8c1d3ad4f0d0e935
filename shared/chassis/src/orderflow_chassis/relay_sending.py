"""Sending one claimed batch to Kafka without ever reordering an aggregate, each row in a
publish span of its event's trace (:func:`publish_row`).

Rows go out in *waves*: a wave holds at most one row per message key, and the next row of a key
is sent only once Kafka has acknowledged the one before it. A batch of distinct aggregates is
one wave (one broker round trip), as before; only an aggregate with several rows in the batch
costs extra round trips. In exchange, a later event of an aggregate can never reach the topic
ahead of an earlier one that failed: when a row fails, the rest of its key is held back for this
round (re-publishing later is fine, consumers drop duplicates by event id; reordering is not).

A failure is *permanent* when Kafka refuses the record itself (too large, invalid topic, not
authorised): retrying cannot help, so after ``park_after_attempts`` rounds the row is parked and
its key flows again. Anything else (broker down, leader moving, timeouts) is transient and is
retried forever.

Waiting is bounded (decision 64). An idempotent aiokafka producer retries a record forever while
its error can pass (a partition below its min.insync.replicas, a leader this process cannot
reach), and says nothing. A row not acknowledged within ``ack_timeout_s`` is a transient
failure like any other, the round sends no further wave, and the report counts it as
``timed_out``: the producer may still hold it, so the relay replaces that producer before its
next round. No wave starts once ``ack_timeout_s`` has passed since the first one either, so
sending a batch takes at most twice that. The relay then pauses the row's partition
(:mod:`orderflow_chassis.relay_partitions`), so that the rounds after it are not held up by it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from opentelemetry.trace import Span

from orderflow_chassis import metrics, tracing
from orderflow_chassis.errors import describe_error
from orderflow_chassis.outbox import PRODUCER_REQUEST_TIMEOUT_S
from orderflow_chassis.outbox_store import OutboxRow, Refusal

log = structlog.get_logger(__name__)

# Kafka refuses the record itself: the same record will be refused again. Not an authorisation
# refused (TopicAuthorizationFailedError, ClusterAuthorizationFailedError): that is our
# credentials or the cluster's ACLs, changed or being rotated, and the same record goes once
# they are right; parked, it would be published after its key's later events.
PERMANENT_SEND_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    UnsupportedForMessageFormatError,
    PolicyViolationError,
)


# Kafka's own rule for a topic name (org.apache.kafka.common.internals.Topic.validate).
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def is_legal_topic(topic: str) -> bool:
    """Whether Kafka can take ``topic`` as a topic's name."""
    return topic not in (".", "..") and _LEGAL_TOPIC.fullmatch(topic) is not None


def is_permanent_send_error(error: BaseException) -> bool:
    """True when retrying the same record cannot succeed; everything else is retried."""
    return isinstance(error, PERMANENT_SEND_ERRORS)


class NotAcknowledged(TimeoutError):
    """Kafka did not acknowledge the row in time; the producer may still deliver it later."""


class NotHandedOver(NotAcknowledged):
    """The wave ran out of time before the producer took the row (another row's hand-over
    blocked it: aiokafka waiting for a topic's metadata, or for room in a batch)."""


# Hands one row to the producer; the awaitable it returns completes when Kafka acknowledged it.
SendRow = Callable[[OutboxRow], Awaitable[Awaitable[object]]]


@dataclass
class SendReport:
    """What happened to each row of a batch."""

    acknowledged: list[OutboxRow] = field(default_factory=list)
    # Refused for good and out of attempts: park now; the key's later rows were sent.
    parked: list[Refusal] = field(default_factory=list)
    # Refused for good, attempts left: counted; the key's later rows wait for the next round.
    refused: list[Refusal] = field(default_factory=list)
    # Failed for a reason that can pass (broker down...): retried in a later round.
    transient: list[Refusal] = field(default_factory=list)
    held_back: int = 0
    # Transient failures of a wave that ran out of time: the producer may still hold them.
    timed_out: list[OutboxRow] = field(default_factory=list)
    # Those of them the producer took: their partitions did not answer.
    unanswered: list[OutboxRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.refused or self.transient)


async def send_in_waves(
    rows: Sequence[OutboxRow],
    send: SendRow,
    *,
    park_after_attempts: int,
    ack_timeout_s: float = PRODUCER_REQUEST_TIMEOUT_S,
    probes: Collection[int] = (),
    probe_timeout_s: float = PRODUCER_REQUEST_TIMEOUT_S,
) -> SendReport:
    """Send ``rows`` (in id order) one wave at a time; see the module docstring. The rows whose
    ids are ``probes`` (to a partition that did not acknowledge lately,
    :mod:`orderflow_chassis.relay_partitions`) are waited for at most ``probe_timeout_s``."""
    report = SendReport()
    queues: dict[str, deque[OutboxRow]] = {}
    for row in rows:
        queues.setdefault(row.key, deque()).append(row)
    last_wave_at = time.monotonic() + ack_timeout_s
    while queues:
        wave = [queue.popleft() for queue in queues.values()]
        queues = {key: queue for key, queue in queues.items() if queue}
        outcomes = await _send_wave(wave, send, ack_timeout_s, probes, probe_timeout_s)
        for row, error in zip(wave, outcomes, strict=True):
            if error is None:
                report.acknowledged.append(row)
                continue
            refusal = Refusal(row, describe_error(error))
            if isinstance(error, NotAcknowledged):
                report.timed_out.append(row)
                if not isinstance(error, NotHandedOver):
                    report.unanswered.append(row)
            if not is_permanent_send_error(error):
                report.transient.append(refusal)
            elif row.attempts + 1 >= park_after_attempts:
                report.parked.append(refusal)
                continue  # set aside for good: the rows behind it may go
            else:
                report.refused.append(refusal)
            report.held_back += len(queues.pop(row.key, ()))
        if report.timed_out or time.monotonic() >= last_wave_at:
            # Nothing more on a producer about to be replaced, nor in a round running late.
            report.held_back += sum(len(queue) for queue in queues.values())
            break
    return report


async def _send_wave(
    wave: Sequence[OutboxRow],
    send: SendRow,
    timeout_s: float,
    probes: Collection[int],
    probe_timeout_s: float,
) -> list[BaseException | None]:
    """Hand every row of the wave to the producer, then wait for all acknowledgements, within
    ``timeout_s`` (the probes' within ``probe_timeout_s``): a row without an outcome by then
    gets :class:`NotAcknowledged`."""
    outcomes: dict[int, BaseException | None] = {}
    deliveries: dict[int, asyncio.Future[object]] = {}
    try:
        async with asyncio.timeout(timeout_s):
            for index, row in enumerate(wave):
                try:
                    deliveries[index] = asyncio.ensure_future(await send(row))
                except Exception as error:  # refused before sending (too large, no metadata...)
                    outcomes[index] = error
            probing = [d for i, d in deliveries.items() if wave[i].id in probes]
            if probing:
                await asyncio.wait(probing, timeout=probe_timeout_s)
            others = [d for i, d in deliveries.items() if wave[i].id not in probes]
            if others:
                await asyncio.wait(others)
    except TimeoutError:
        pass  # what has no outcome yet is NotAcknowledged, below
    finally:
        for delivery in deliveries.values():
            delivery.cancel()  # only our wait (and its span) ends: the producer keeps the record
    for index, delivery in deliveries.items():
        if not delivery.cancelled():
            outcomes[index] = delivery.exception()
    waited = [probe_timeout_s if row.id in probes else timeout_s for row in wave]
    return [
        outcomes[index]
        if index in outcomes
        else NotAcknowledged(f"Kafka did not acknowledge it within {waited[index]:g} s")
        if index in deliveries
        else NotHandedOver(f"the producer did not take it within {timeout_s:g} s")
        for index in range(len(wave))
    ]


async def publish_row(
    producer: AIOKafkaProducer, row: OutboxRow, *, service: str, partition: int | None
) -> Awaitable[object]:
    """Hand ``row`` to ``producer`` (to ``partition``, or where its key hashes when None),
    in a publish span that carries the event's trace on and ends when Kafka answers; the
    delivery to await for that answer."""
    if not is_legal_topic(row.topic):  # else the send waits for metadata Kafka cannot give
        raise InvalidTopicError(f"{row.topic[:300]!r} cannot be a Kafka topic's name")
    span, traceparent = tracing.start_publish(
        row.traceparent, service=service, topic=row.topic, event_type=row.event_type
    )
    headers = row.headers
    if traceparent is not None:
        headers = [*headers, (tracing.TRACEPARENT, traceparent.encode())]
    try:
        delivery: Awaitable[object] = await producer.send(
            row.topic, value=row.payload, key=row.key.encode(), headers=headers, partition=partition
        )
    except BaseException:
        if span is not None:
            span.end()
        raise
    return delivery if span is None else _ending_at_ack(delivery, span)


async def _ending_at_ack(delivery: Awaitable[object], span: Span) -> object:
    """The delivery, ending its publish span once Kafka answered."""
    try:
        return await delivery
    finally:
        span.end()


def count_and_log(report: SendReport, *, service: str) -> None:
    """A committed round's metrics, and a log line for each row parked or refused and for the
    round's transient failures."""
    for row in report.acknowledged:
        metrics.OUTBOX_PUBLISHED.labels(service, row.topic).inc()
    for refusal in report.parked:
        metrics.OUTBOX_PARKED_TOTAL.labels(service, refusal.row.topic).inc()
        log.error(
            "outbox.row_parked",
            outbox_id=refusal.row.id,
            topic=refusal.row.topic,
            key=refusal.row.key,
            error=refusal.error,
        )
    for refusal in report.refused:
        metrics.OUTBOX_SEND_FAILURES.labels(service, "refused").inc()
        log.warning("outbox.row_refused", outbox_id=refusal.row.id, error=refusal.error)
    if report.transient:
        metrics.OUTBOX_SEND_FAILURES.labels(service, "transient").inc(len(report.transient))
        log.warning(
            "outbox.send_failed",
            error=f"sending failed, retrying: {report.transient[0].error}",
            rows=len(report.transient),
        )
