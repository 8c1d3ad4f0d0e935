"""``orderflow-dlq``: inspect and replay dead letters.

A dead letter keeps the original value and headers, so replaying is publishing them back to
the original topic with the original key. Replaying something already applied is harmless:
the consumer's inbox drops an event id it has seen.

A dead-letter topic has several partitions, and an offset is only a position *within* one:
a dead letter is named by ``--partition P --offset O`` (what ``list`` prints), by the event id
of the message that failed (``--event-id``), or all letters with one ``--error-code``.

A letter that does not hold the original record is never replayed: one with a part withheld
because it could not be screened for card data (``dlq.withheld``), or with its value cut to
fit the topic (``dlq.truncated``). Publishing it would send a placeholder or a fragment as an
event; the command names it and replays nothing.

No wait is unbounded: the producer's start and each letter's acknowledgement are waited for at
most ``REPLAY_SEND_TIMEOUT_S`` (an idempotent producer would retry a record for as long as its
partition's leader is out of reach); a replay that stops there says what it replayed and where
it stopped (that letter may still arrive), and exits 1. Running it again is harmless.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from orderflow_chassis.dead_letters import failure_details, original_headers, original_topic
from orderflow_chassis.kafka_tool_profile import kafka_servers_for_tool
from orderflow_chassis.outbox import (
    PRODUCER_REQUEST_TIMEOUT_S,
    create_producer,
    start_producer,
    stop_producer,
)
from orderflow_chassis.topic_reader import read_to_end

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        envvar="KAFKA_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers (development default: 127.0.0.1:19092)",
    ),
]
TOOL = "orderflow-dlq"
REPLAY_SEND_TIMEOUT_S = PRODUCER_REQUEST_TIMEOUT_S


@dataclass(frozen=True)
class StoredDeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def details(self) -> dict[str, str]:
        return failure_details(self.headers)

    def target_topic(self, dlq_topic: str) -> str:
        """The topic a replay publishes it to: the original one its headers name."""
        return original_topic(self.details, dlq_topic)

    @property
    def unreplayable_because(self) -> str | None:
        """Why publishing this letter back would not publish the original record, or None."""
        details = self.details
        original = (
            f"the original is at {details.get('original_topic', '?')} partition "
            f"{details.get('original_partition', '?')} offset "
            f"{details.get('original_offset', '?')}"
        )
        if details.get("withheld"):
            return (
                f"part of it ({details['withheld']}) could not be screened for card data and "
                f"was withheld from the dead letter; {original}"
            )
        if details.get("truncated") == "true":
            return f"its value was cut to fit the dead-letter topic; {original}"
        return None

    @property
    def address(self) -> str:
        """Where it is on the dead-letter topic, as ``--partition``/``--offset`` take it."""
        return f"partition {self.partition} offset {self.offset}"

    @property
    def event_id(self) -> str | None:
        """The ``event_id`` of the original message, when its value is a JSON object with one
        (a malformed message has none)."""
        try:
            decoded = json.loads(self.value)
        except (ValueError, RecursionError):
            return None
        found = decoded.get("event_id") if isinstance(decoded, dict) else None
        return found if isinstance(found, str) else None

    def summary(self) -> dict[str, object]:
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "event_id": self.event_id,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            **self.details,
            "value": self.value.decode("utf-8", "replace"),
        }


class SelectionError(ValueError):
    """The dead letters asked for cannot be named unambiguously; the message says why."""


class UnreplayableLetter(ValueError):
    """A letter does not hold the original record (see the module docstring)."""


class ReplayStopped(RuntimeError):
    """Kafka did not take a letter back in time: ``replayed`` were, the rest were not."""

    def __init__(self, replayed: Sequence[StoredDeadLetter], at: StoredDeadLetter, why: str):
        super().__init__(f"stopped at {at.address}: {why}")
        self.replayed = list(replayed)


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay, as given on the command line."""

    partition: int | None = None
    offsets: Sequence[int] = ()
    event_ids: Sequence[str] = ()
    error_code: str | None = None

    def validate(self) -> None:
        ways = sum(bool(way) for way in (self.offsets, self.event_ids, self.error_code))
        if ways == 0:
            raise SelectionError(
                "name the dead letters to replay: --partition P --offset O, --event-id ID, "
                "or --error-code CODE (replaying everything is never implicit)"
            )
        if ways > 1:
            raise SelectionError(
                "use one way to name dead letters: --offset (with --partition), --event-id, "
                "or --error-code"
            )
        if self.offsets and self.partition is None:
            raise SelectionError(
                "an offset names a dead letter only within one partition of the DLQ: add "
                "--partition (orderflow-dlq list shows dlq_partition and dlq_offset of each)"
            )
        if self.event_ids and self.partition is not None:
            raise SelectionError("--event-id names dead letters in any partition: drop --partition")


def select(letters: Sequence[StoredDeadLetter], selection: Selection) -> list[StoredDeadLetter]:
    """The dead letters ``selection`` names; every named one must exist, exactly once."""
    selection.validate()
    if selection.error_code is not None:
        return [
            letter
            for letter in letters
            if letter.details.get("error_code") == selection.error_code
            and (selection.partition is None or letter.partition == selection.partition)
        ]
    if selection.offsets:
        in_partition = {
            letter.offset: letter for letter in letters if letter.partition == selection.partition
        }
        wanted = list(dict.fromkeys(selection.offsets))
        missing = [str(offset) for offset in wanted if offset not in in_partition]
        if missing:
            raise SelectionError(
                f"no dead letter in partition {selection.partition} at offset(s) "
                f"{', '.join(missing)}"
            )
        return [in_partition[offset] for offset in wanted]
    chosen: list[StoredDeadLetter] = []
    for event_id in dict.fromkeys(selection.event_ids):
        found = [letter for letter in letters if letter.event_id == event_id]
        if not found:
            raise SelectionError(f"no dead letter of event {event_id}")
        if len(found) > 1:
            where = "; ".join(letter.address for letter in found)
            raise SelectionError(
                f"event {event_id} was dead-lettered {len(found)} times ({where}): "
                "name the one to replay with --partition and --offset"
            )
        chosen.append(found[0])
    return chosen


async def read_dead_letters(bootstrap_servers: str, dlq_topic: str) -> list[StoredDeadLetter]:
    """Everything currently on ``dlq_topic``, read without a consumer group (no side effects)."""
    return [_stored(record) for record in await read_to_end(bootstrap_servers, [dlq_topic])]


def _stored(record: ConsumerRecord) -> StoredDeadLetter:
    return StoredDeadLetter(
        record.partition,
        record.offset,
        record.key,
        record.value or b"",
        list(record.headers or ()),
    )


async def replay(
    bootstrap_servers: str,
    letters: list[StoredDeadLetter],
    dlq_topic: str,
    *,
    timeout_s: float = REPLAY_SEND_TIMEOUT_S,
) -> int:
    """Replay ``letters`` one at a time, each acknowledged within ``timeout_s`` (the producer's
    start too: it waits for Kafka without end), or raise ``ReplayStopped``."""
    if not letters:
        return 0
    producer = create_producer(bootstrap_servers, client_id="orderflow-dlq-replay")
    try:
        await start_producer(producer, timeout_s=timeout_s)
    except (TimeoutError, KafkaError) as error:
        why = "Kafka did not answer" if isinstance(error, TimeoutError) else repr(error)
        raise ReplayStopped([], letters[0], f"no producer could start: {why}") from error
    try:
        for done, letter in enumerate(letters):
            try:
                async with asyncio.timeout(timeout_s):
                    await publish_replays(producer, [letter], dlq_topic)
            except TimeoutError:
                why = f"Kafka did not acknowledge it within {timeout_s:g} s"
                raise ReplayStopped(letters[:done], letter, why) from None
            except KafkaError as error:
                raise ReplayStopped(letters[:done], letter, repr(error)) from error
        return len(letters)
    finally:
        await stop_producer(producer, flush_s=0)


async def publish_replays(
    producer: AIOKafkaProducer, letters: Sequence[StoredDeadLetter], dlq_topic: str
) -> list[RecordMetadata]:
    """Publish each letter back to its original topic with its original key and headers, and
    ``replayed_from`` naming where it was on the DLQ; where each landed, in order. Raises
    ``UnreplayableLetter``, before sending any, when one does not hold its original record.
    Waits for each acknowledgement as long as the producer does: callers bound it."""
    refuse_unreplayable(letters, dlq_topic)
    landed = []
    for letter in letters:
        target = letter.target_topic(dlq_topic)
        replayed_from = f"{dlq_topic}:{letter.partition}:{letter.offset}".encode()
        # One replayed_from, this letter's: a replay of a replay kept the first one too, and a
        # reader taking the first tied its new failure to the first letter, not this one.
        kept = [(k, v) for k, v in original_headers(letter.headers) if k != "replayed_from"]
        headers = [*kept, ("replayed_from", replayed_from)]
        landed.append(
            await producer.send_and_wait(target, letter.value, key=letter.key, headers=headers)
        )
    return landed


def refuse_unreplayable(letters: Sequence[StoredDeadLetter], dlq_topic: str) -> None:
    """Raise ``UnreplayableLetter`` naming each of ``letters`` that cannot be replayed."""
    refused = [
        f"{dlq_topic} {letter.address}: {why}"
        for letter in letters
        if (why := letter.unreplayable_because) is not None
    ]
    if refused:
        raise UnreplayableLetter("cannot be replayed: " + "; ".join(refused))


@app.command("list")
def list_dead_letters(
    dlq_topic: Annotated[str, typer.Argument(help="e.g. orders.dlq")],
    bootstrap_servers: BootstrapOption = None,
    error_code: Annotated[str | None, typer.Option(help="only this reason code")] = None,
) -> None:
    """Print every dead letter on a topic as JSON lines: where it is on the DLQ (partition and
    offset), its event id, why, where from, and the value."""
    servers = kafka_servers_for_tool(TOOL, bootstrap_servers)
    letters = asyncio.run(read_dead_letters(servers, dlq_topic))
    for letter in letters:
        if error_code is None or letter.details.get("error_code") == error_code:
            typer.echo(json.dumps(letter.summary(), ensure_ascii=False))


@app.command("replay")
def replay_dead_letters(
    dlq_topic: Annotated[str, typer.Argument(help="e.g. orders.dlq")],
    bootstrap_servers: BootstrapOption = None,
    partition: Annotated[
        int | None, typer.Option(help="the DLQ partition of --offset (or to narrow --error-code)")
    ] = None,
    offset: Annotated[
        list[int] | None, typer.Option(help="DLQ offset(s) within --partition to replay")
    ] = None,
    event_id: Annotated[
        list[str] | None, typer.Option(help="replay the dead letter of this original event id")
    ] = None,
    error_code: Annotated[str | None, typer.Option(help="replay all with this code")] = None,
) -> None:
    """Publish dead letters back to their original topic (after the cause is fixed)."""
    servers = kafka_servers_for_tool(TOOL, bootstrap_servers)
    selection = Selection(partition, offset or (), event_id or (), error_code)
    try:
        selection.validate()
        letters = select(asyncio.run(read_dead_letters(servers, dlq_topic)), selection)
        refuse_unreplayable(letters, dlq_topic)
    except (SelectionError, UnreplayableLetter) as error:
        typer.echo(f"orderflow-dlq: {error}; nothing replayed", err=True)
        raise typer.Exit(2) from error
    try:
        count = asyncio.run(replay(servers, letters, dlq_topic))
    except ReplayStopped as stopped:
        _echo_replayed(stopped.replayed, dlq_topic)
        typer.echo(
            f"orderflow-dlq: {stopped}; {len(stopped.replayed)} of {len(letters)} replayed. "
            "Replaying them all again is harmless: consumers drop events they have applied",
            err=True,
        )
        raise typer.Exit(1) from stopped
    _echo_replayed(letters, dlq_topic)
    typer.echo(f"replayed {count} dead letter(s) from {dlq_topic}")


def _echo_replayed(letters: Sequence[StoredDeadLetter], dlq_topic: str) -> None:
    for letter in letters:
        typer.echo(f"replayed {dlq_topic} {letter.address} (event {letter.event_id})")
