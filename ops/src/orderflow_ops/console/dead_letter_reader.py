"""Reads every dead-letter topic into the read model.

A dead letter is not an event of the contract (it is the failed record with ``dlq.*`` headers
saying why), so it is read here rather than by the chassis' event consumer, with the same
discipline: the console's own consumer group, each batch stored in one transaction, Kafka
offsets committed only after that commit. A letter's address on its topic is its identity in
the table, so a batch redelivered after a crash is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from orderflow_chassis.dead_letters import HEADER_PREFIX, failure_details, screened_parts
from orderflow_chassis.dlq_cli import StoredDeadLetter
from orderflow_chassis.errors import describe_error, is_transient
from orderflow_chassis.outbox import storable
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_chassis.unit_of_work import Transactions
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts import topics
from orderflow_contracts.card_data import redact_card_numbers
from orderflow_contracts.primitives import EARLIEST_INSTANT, LATEST_INSTANT

from orderflow_ops.console.kafka_clients import kafka_client
from orderflow_ops.console.read_model_writes import StoredLetter

log = structlog.get_logger(__name__)

_RETRY_DELAY_S = 1.0
_COMMIT_S = 5.0


def dead_letter_topics(topic_prefix: str) -> list[str]:
    return [topics.dead_letter_topic(topic_prefix + topic) for topic in topics.ALL_TOPICS]


def stored_letter(record: ConsumerRecord) -> StoredLetter:
    """The letter as the read model stores it. Its headers and value are whatever reached the
    dead-letter topic, so every text is made storable and every number and time checked here:
    one letter PostgreSQL refused would be read again for ever, and no later one stored. Our
    services redact card numbers before they write a letter, but anyone allowed to write to a
    dead-letter topic may put one there: the letter is screened again, as the chassis screens
    one it writes, before anything of it is stored or shown."""
    parts = screened_parts(
        record.key,
        record.value or b"",
        [(str(name), value or b"") for name, value in record.headers or ()],
    )
    headers = parts.headers
    if parts.withheld:  # never the original record: never replayed (the chassis' rule)
        withheld = ", ".join(parts.withheld)
        headers = [(k, v) for k, v in headers if k != HEADER_PREFIX + "withheld"]
        headers.append((HEADER_PREFIX + "withheld", withheld.encode()))
    details = {
        name: storable(redact_card_numbers(text)) for name, text in failure_details(headers).items()
    }
    _fit_indexed_details(details)
    letter = StoredDeadLetter(record.partition, record.offset, parts.key, parts.value, headers)
    # The last one: a replay of a replay published before it was dropped kept both.
    replayed_from = next(
        (
            value.decode("utf-8", "replace")
            for name, value in reversed(headers)
            if name == "replayed_from"
        ),
        None,
    )
    return StoredLetter(
        dlq_topic=record.topic,
        dlq_partition=record.partition,
        dlq_offset=record.offset,
        key=parts.key,
        value=parts.value,
        headers=headers,
        details=details,
        event_id=_indexed_id(letter.event_id),
        replayed_from=_indexed_id(replayed_from),
        failed_at=_failed_at(details.get("failed_at"), record.timestamp),
    )


# Ids are indexed, and an index entry holds at most about 2,700 bytes: an id longer than any
# the contract allows (an envelope's are at most 200 characters) is stored as unknown.
_MAX_ID_LENGTH = 200


def _indexed_id(text: str | None) -> str | None:
    return None if text is None or len(text) > _MAX_ID_LENGTH else storable(text)


# Details the read model indexes (dead_letters.service and error_code; replay_audit.consumer and
# target_topic, which a replay copies from the letter): cut to fit an index entry. A topic no
# broker would accept (longer than 249 characters) is no topic to replay to: the letter's own
# topic names the original then.
_INDEXED_DETAILS = ("service", "consumer", "error_code")
_MAX_TOPIC_LENGTH = 249


def _fit_indexed_details(details: dict[str, str]) -> None:
    for name in _INDEXED_DETAILS:
        text = details.get(name)
        if text is not None and len(text) > _MAX_ID_LENGTH:
            details[name] = text[: _MAX_ID_LENGTH - 3] + "..."
    if len(details.get("original_topic", "")) > _MAX_TOPIC_LENGTH:
        del details["original_topic"]


def _failed_at(stated: str | None, timestamp_ms: int) -> datetime:
    """When the letter says it failed; else when Kafka stamped it; else now. Only a moment
    within the contract's range (PostgreSQL cannot encode the year 0 or 10000)."""
    for moment in (_stated_moment(stated), _kafka_moment(timestamp_ms)):
        if moment is not None and EARLIEST_INSTANT <= moment < LATEST_INSTANT:
            return moment
    return datetime.now(UTC)


def _stated_moment(stated: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(stated) if stated else None
        return None if parsed is None or parsed.utcoffset() is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _kafka_moment(timestamp_ms: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def read_dead_letters(
    bootstrap_servers: str, topic_prefix: str, group_id: str, on_stored: Callable[[], None]
) -> Callable[[Transactions[Any]], Any]:
    """The background job: consume the dead-letter topics until the console stops."""

    async def run(transactions: Transactions[Any]) -> None:
        while True:
            consumer = kafka_client(
                AIOKafkaConsumer,
                bootstrap_servers,
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="console-dead-letters",
            )
            try:
                await consumer.start()
            except Exception as error:
                # A failed job stops the console: the broker away at start is waited for with
                # a new consumer (one that failed to start is not started again).
                log.warning("console.dead_letters_start_failed", error=describe_error(error))
                with contextlib.suppress(Exception):
                    await stop_consumer(consumer)
                await asyncio.sleep(_RETRY_DELAY_S)
                continue
            try:
                consumer.subscribe(dead_letter_topics(topic_prefix))
                await _read(consumer, transactions, on_stored)
            finally:
                await stop_consumer(consumer)

    run.__name__ = "dead-letter-reader"
    return run


async def _read(
    consumer: AIOKafkaConsumer, transactions: Transactions[Any], on_stored: Callable[[], None]
) -> None:
    while True:
        try:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
        except Exception as error:
            # An error aiokafka does not retry (an ACL being rotated, a batch it cannot parse)
            # ended the job, and a failed job stops the console: the letters wait, the pages
            # stay up, and the fetch is tried again.
            log.warning("console.dead_letters_fetch_failed", error=describe_error(error))
            await asyncio.sleep(_RETRY_DELAY_S)
            continue
        records = [record for found in batch.values() for record in found]
        if not records:
            continue
        try:
            await _store(transactions, records)
        except Exception as error:  # the database is away: read the batch again
            log.warning("console.dead_letters_retry", error=describe_error(error))
            _rewind(consumer, records)
            await asyncio.sleep(_RETRY_DELAY_S)
            continue
        on_stored()
        try:
            # aiokafka retries a commit for as long as the coordinator is away: bounded, the
            # reader goes on storing letters, and commits with the next batch.
            await wait_at_most(_COMMIT_S, consumer.commit())
        except Exception as error:  # a redelivery is stored once: harmless
            log.warning("console.dead_letters_commit_failed", error=describe_error(error))


async def _store(transactions: Transactions[Any], records: Sequence[ConsumerRecord]) -> None:
    """Store a batch of letters in one transaction. When the read model refuses one for a
    reason that does not pass (a value no column or index holds, that the checks here
    missed), each is stored in a part of its own and the one refused is left out, logged:
    read again for ever, it would hold back every letter behind it."""
    try:
        async with transactions.begin() as uow:
            for record in records:
                await uow.repos.writer.record_dead_letter(stored_letter(record))
    except Exception as error:
        if is_transient(error):
            raise
        log.warning("console.dead_letters_one_by_one", error=describe_error(error))
        await _store_each(transactions, records)


async def _store_each(transactions: Transactions[Any], records: Sequence[ConsumerRecord]) -> None:
    async with transactions.begin() as uow:
        for record in records:
            part = uow.part()
            try:
                async with part:
                    await uow.repos.writer.record_dead_letter(stored_letter(record))
            except Exception as error:
                if is_transient(error):
                    raise
                log.error(
                    "console.dead_letter_not_stored",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=redact_card_numbers(describe_error(error)),
                )


def _rewind(consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord]) -> None:
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    for tp, offset in first.items():
        consumer.seek(tp, offset)
