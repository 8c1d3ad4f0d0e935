"""Sending one claimed batch to Kafka without ever reordering an aggregate.

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
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)

from orderflow_chassis.errors import describe_error
from orderflow_chassis.outbox_store import OutboxRow, Refusal

# Kafka refuses the record itself: the same record will be refused again.
PERMANENT_SEND_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    UnsupportedForMessageFormatError,
    PolicyViolationError,
)


def is_permanent_send_error(error: BaseException) -> bool:
    """True when retrying the same record cannot succeed; everything else is retried."""
    return isinstance(error, PERMANENT_SEND_ERRORS)


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

    @property
    def failed(self) -> bool:
        return bool(self.refused or self.transient)


async def send_in_waves(
    rows: Sequence[OutboxRow], send: SendRow, *, park_after_attempts: int
) -> SendReport:
    """Send ``rows`` (in id order) one wave at a time; see the module docstring."""
    report = SendReport()
    queues: dict[str, deque[OutboxRow]] = {}
    for row in rows:
        queues.setdefault(row.key, deque()).append(row)
    while queues:
        wave = [queue.popleft() for queue in queues.values()]
        queues = {key: queue for key, queue in queues.items() if queue}
        for row, error in zip(wave, await _send_wave(wave, send), strict=True):
            if error is None:
                report.acknowledged.append(row)
                continue
            refusal = Refusal(row, describe_error(error))
            if not is_permanent_send_error(error):
                report.transient.append(refusal)
            elif row.attempts + 1 >= park_after_attempts:
                report.parked.append(refusal)
                continue  # set aside for good: the rows behind it may go
            else:
                report.refused.append(refusal)
            report.held_back += len(queues.pop(row.key, ()))
    return report


async def _send_wave(wave: Sequence[OutboxRow], send: SendRow) -> list[BaseException | None]:
    """Hand every row of the wave to the producer, then wait for all acknowledgements."""
    deliveries: list[Awaitable[object] | BaseException] = []
    for row in wave:
        try:
            deliveries.append(await send(row))
        except Exception as error:  # refused before sending (too large, no metadata...)
            deliveries.append(error)
    in_flight = [d for d in deliveries if not isinstance(d, BaseException)]
    results = iter(await asyncio.gather(*in_flight, return_exceptions=True))
    outcomes: list[BaseException | None] = []
    for delivery in deliveries:
        if isinstance(delivery, BaseException):
            outcomes.append(delivery)
        else:
            result = next(results)
            outcomes.append(result if isinstance(result, BaseException) else None)
    return outcomes
