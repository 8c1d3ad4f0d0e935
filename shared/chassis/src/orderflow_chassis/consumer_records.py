"""How the consumer reads Kafka records: raw bytes, tolerant headers, bounded labels, and
polls that wait for records instead of sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import types
from collections.abc import Awaitable, Callable, Iterable
from itertools import chain
from typing import Any

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError, InconsistentGroupProtocolError
from orderflow_contracts.registry import EVENT_TYPES

from orderflow_chassis import metrics

log = structlog.get_logger(__name__)


def header(record: ConsumerRecord, name: str) -> str | None:
    """The first header called ``name``, as text; None when absent, null or not UTF-8.

    Kafka allows a header without a value (null): any client can send one, and reading it as
    bytes raised out of the decoder, so the consumer rewound on that record for ever."""
    for key, value in record.headers or ():
        if key == name:
            if value is None:
                return None
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def in_timestamp_order(records: tuple[ConsumerRecord, ...]) -> tuple[ConsumerRecord, ...]:
    """The batch's records merged across partitions by Kafka timestamp, each partition's own
    order kept.

    FastStream hands a batch over partition by partition. A service reading two topics would
    then apply a ``ReturnRequested`` before the ``ShipmentDelivered`` that was published first
    and arrived in the same fetch, and judge the request on stale facts. Merging by timestamp
    applies what arrived together in the order it was published; handlers still tolerate any
    order across topics, since Kafka promises none.
    """
    by_partition: dict[tuple[str, int], list[ConsumerRecord]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record)
    if len(by_partition) < 2:
        return records
    # heapq.merge only ever takes the head of a partition's list: its order is kept even if
    # its timestamps are not monotonic, and equal timestamps keep the batch's order.
    return tuple(heapq.merge(*by_partition.values(), key=lambda record: record.timestamp))


def next_offsets(records: Iterable[ConsumerRecord]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last of ``records``: what a batch applied up to
    (consumer lag and the offsets to commit both start from it)."""
    # (topic, partition) tuples while scanning: no TopicPartition built per record.
    last: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        if record.offset > last.get(key, -1):
            last[key] = record.offset
    return {TopicPartition(*key): offset + 1 for key, offset in last.items()}


def event_type_label(event_type: str) -> str:
    # Metric labels must not be chosen by whoever writes to a topic: unknown names share one.
    return event_type if event_type in EVENT_TYPES or not event_type else "unknown"


async def the_message_itself(message: Any) -> Any:
    """FastStream's decoder, handing the handler the message itself: its records as they came
    (decoding is the consumer's, so that its failures become dead letters) and its nack (a rewind).

    Asking for the message through FastStream's ``Context`` instead (the ``KafkaMessage``
    annotation) made fast_depends resolve it in a worker thread: a thread hop per batch. And
    a coroutine, since FastStream runs a plain-function decoder in a worker thread too."""
    return message


async def parse_any_headers(
    records: tuple[ConsumerRecord, ...], original: Callable[[Any], Awaitable[Any]]
) -> Any:
    """FastStream's parser decodes every header value as strict UTF-8; one record with other
    bytes (or a null header value) made it drop the whole batch *without* rewinding, and the
    partition skipped past valid events. It sees a tolerant copy; we keep the real records.

    Only the first record is handed to it: the message's headers come from it, and its id
    (FastStream's logs) is set here from the first and last records as FastStream would. The
    consumer reads the records themselves (``raw_message``); the message's ``body`` and
    ``batch_headers`` describe the first record only, and nothing here reads them. Parsing and
    copying every record cost a few microseconds each, on every record of every batch."""
    first, last = records[0], records[-1]
    tolerant = dataclasses.replace(
        first,
        headers=[
            (name, (value or b"").decode("utf-8", "replace").encode())
            for name, value in first.headers or ()
        ],
    )
    message = await original((tolerant,))
    message.raw_message = records
    message.message_id = f"{first.offset}-{last.offset}-{first.timestamp}"
    return message


PollObserver = Callable[[Any, tuple[ConsumerRecord, ...]], None]
"""Told of every poll: the aiokafka consumer and what it returned (lag is read there)."""

IdleAction = Callable[[Any], Awaitable[None]]
"""Run with the aiokafka consumer after a poll that returned nothing (between batches)."""

FetchErrorAction = Callable[[Any, Exception], Awaitable[None]]
"""Run with the aiokafka consumer and the error after a failed fetch, before it is raised."""

FetchGate = Callable[[Any], Awaitable[bool]]
"""Run with the aiokafka consumer before every fetch: False skips the fetch for now."""


class AppliedPositions:
    """Per partition, the offset after the last record applied: where reading must resume
    when a fetch fails part-way.

    aiokafka moves a partition's position as it takes that partition's records out of a fetch,
    before it hands any of them over. When a later partition's records cannot be read (a
    corrupt batch, a codec not installed), ``getmany`` raises and the records taken so far are
    gone: the next poll starts after them, and they would never be applied. So after a failed
    fetch every assigned partition goes back to where this consumer applied up to (its
    committed offset when nothing was applied since it was assigned). A nacked batch was not
    applied, so its partitions go back before it too. Rereading is cheap (the stored positions
    drop what was applied); skipping is loss.

    A partition that cannot be sent back yet (its committed offset not read within
    ``timeout_s``: the broker that failed the fetch may be away; or a seek refused) stays
    owed, and :meth:`settle` sends it back before the next fetch: no fetch runs while one is
    owed, and no wait is unbounded.
    """

    def __init__(self, *, timeout_s: float = 10.0, labels: tuple[str, str] | None = None) -> None:
        self._next: dict[TopicPartition, int] = {}
        self._owed: set[TopicPartition] = set()
        self._timeout_s = timeout_s
        # (service, consumer) of the owed-rewinds gauge; None: not exported (a bare test)
        self._owed_gauge = None if labels is None else metrics.CONSUMER_REWINDS_OWED.labels(*labels)

    def applied(self, next_offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in next_offsets.items():
            self._next[partition] = max(self._next.get(partition, 0), offset)

    def keep_only(self, assigned: Iterable[TopicPartition]) -> None:
        """After a rebalance: another member may have read on from a partition taken away."""
        kept = set(assigned)
        self._next = {p: offset for p, offset in self._next.items() if p in kept}

    async def rewind(self, consumer: Any) -> None:
        """Seek every assigned partition back to where this consumer applied up to."""
        self._owed = set(consumer.assignment())
        await self.settle(consumer)

    async def settle(self, consumer: Any) -> bool:
        """Seek the partitions still owed a rewind back; True when none is owed any more.
        A partition no longer assigned is its next owner's, read from the committed offset."""
        if not self._owed:
            return True
        self._owed &= set(consumer.assignment())
        failed: list[str] = []
        try:
            async with asyncio.timeout(self._timeout_s):
                # What needs no broker first: a committed offset may take the whole bound.
                for partition in sorted(self._owed, key=lambda p: (p not in self._next, p)):
                    try:
                        await self._seek_back(consumer, partition)
                    except InconsistentGroupProtocolError:
                        # aiokafka raises the group's refusal from the next call that checks
                        # for errors, a seek too: the poller reports it (decision 75).
                        raise
                    except Exception as error:  # one refused seek does not hold the others back
                        failed.append(f"{partition.topic}[{partition.partition}]: {error!r}")
                    else:
                        self._owed.discard(partition)
        except TimeoutError:
            failed.append(f"committed offsets not read within {self._timeout_s} s")
        if self._owed:
            log.error(
                "consumer.rewind_after_failed_fetch_postponed",
                partitions_owed=len(self._owed),
                errors=failed,
            )
        if self._owed_gauge is not None:
            self._owed_gauge.set(len(self._owed))
        return not self._owed

    async def _seek_back(self, consumer: Any, partition: TopicPartition) -> None:
        offset = self._next.get(partition)
        if offset is None:
            offset = await consumer.committed(partition)
        if offset is None:  # where a group with no offset starts (earliest)
            await consumer.seek_to_beginning(partition)
        else:
            consumer.seek(partition, offset)


# While a partition is owed a rewind, the poll waits this long instead of fetching.
_OWED_REWIND_PAUSE_S = 1.0


def _poller(
    on_poll: PollObserver | None,
    on_idle: IdleAction | None,
    on_fetch_error: FetchErrorAction | None,
    before_fetch: FetchGate | None,
) -> Callable[[Any, Any], Awaitable[tuple[Any, ...]]]:
    async def poll(subscriber: Any, consumer: Any) -> tuple[ConsumerRecord, ...]:
        try:
            if before_fetch is not None and not await before_fetch(consumer):
                await asyncio.sleep(_OWED_REWIND_PAUSE_S)
                return ()
            # A long poll: returns as soon as records are fetched, or after batch_timeout_ms.
            fetched = await consumer.getmany(
                timeout_ms=subscriber.batch_timeout_ms, max_records=subscriber.max_records
            )
        except ConsumerStoppedError:
            raise
        except Exception as error:
            if on_fetch_error is not None:
                await on_fetch_error(consumer, error)
            raise  # FastStream logs it and polls again after a pause
        records = tuple(chain(*fetched.values()))
        if on_poll is not None:
            on_poll(consumer, records)
        if not records and on_idle is not None:
            await on_idle(consumer)
        return records

    return poll


def without_idle_sleep(
    subscriber: Any,
    on_poll: PollObserver | None = None,
    on_idle: IdleAction | None = None,
    on_fetch_error: FetchErrorAction | None = None,
    before_fetch: FetchGate | None = None,
) -> bool:
    """Make a FastStream batch subscriber wait for records instead of sleeping.

    FastStream 0.7's batch subscriber sleeps ``batch_timeout_ms`` after every empty poll, on
    top of the poll's own wait: a record arriving then waits up to that long for nothing (a
    latency floor of 200 ms by default under light load). The poll itself already waits for
    records, so the sleep goes. ``on_poll`` is told of every poll (consumer lag is read there);
    ``on_idle`` runs after a poll that returned nothing (pending offsets are committed there);
    ``on_fetch_error`` with the consumer and the error before a failed poll's error is raised (see
    :class:`AppliedPositions`);
    ``before_fetch`` before every fetch, which it skips (after a pause) by returning False.
    Returns False (and changes nothing) if FastStream's subscriber no longer looks as expected.
    """
    expected = ("get_msg", "batch_timeout_ms", "max_records")
    if not all(hasattr(subscriber, name) for name in expected):
        return False
    subscriber.get_msg = types.MethodType(
        _poller(on_poll, on_idle, on_fetch_error, before_fetch), subscriber
    )
    return True
