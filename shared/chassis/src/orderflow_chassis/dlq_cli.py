"""``orderflow-dlq``: inspect and replay dead letters.

A dead letter keeps the original value and headers, so replaying is publishing them back to
the original topic with the original key. Replaying something already applied is harmless:
the consumer's inbox drops an event id it has seen.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated

import typer
from aiokafka import ConsumerRecord

from orderflow_chassis.dead_letters import failure_details, original_headers
from orderflow_chassis.outbox import create_producer
from orderflow_chassis.topic_reader import read_to_end

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

BootstrapOption = Annotated[
    str,
    typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers"),
]


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

    def summary(self) -> dict[str, object]:
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            **self.details,
            "value": self.value.decode("utf-8", "replace"),
        }


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


async def replay(bootstrap_servers: str, letters: list[StoredDeadLetter], dlq_topic: str) -> int:
    producer = create_producer(bootstrap_servers, client_id="orderflow-dlq-replay")
    await producer.start()
    try:
        for letter in letters:
            target = letter.details.get("original_topic") or dlq_topic.removesuffix(".dlq")
            replayed_from = f"{dlq_topic}:{letter.partition}:{letter.offset}".encode()
            headers = [*original_headers(letter.headers), ("replayed_from", replayed_from)]
            await producer.send_and_wait(target, letter.value, key=letter.key, headers=headers)
        return len(letters)
    finally:
        await producer.stop()


@app.command("list")
def list_dead_letters(
    dlq_topic: Annotated[str, typer.Argument(help="e.g. orders.dlq")],
    bootstrap_servers: BootstrapOption = "127.0.0.1:19092",
    error_code: Annotated[str | None, typer.Option(help="only this reason code")] = None,
) -> None:
    """Print every dead letter on a topic as JSON lines: why, where from, and the value."""
    letters = asyncio.run(read_dead_letters(bootstrap_servers, dlq_topic))
    for letter in letters:
        if error_code is None or letter.details.get("error_code") == error_code:
            typer.echo(json.dumps(letter.summary(), ensure_ascii=False))


@app.command("replay")
def replay_dead_letters(
    dlq_topic: Annotated[str, typer.Argument(help="e.g. orders.dlq")],
    bootstrap_servers: BootstrapOption = "127.0.0.1:19092",
    offset: Annotated[list[int] | None, typer.Option(help="DLQ offset(s) to replay")] = None,
    error_code: Annotated[str | None, typer.Option(help="replay all with this code")] = None,
    partition: Annotated[int | None, typer.Option(help="only this DLQ partition")] = None,
) -> None:
    """Publish dead letters back to their original topic (after the cause is fixed)."""
    if not offset and error_code is None:
        raise typer.BadParameter("name --offset or --error-code; replaying everything is explicit")
    letters = [
        letter
        for letter in asyncio.run(read_dead_letters(bootstrap_servers, dlq_topic))
        if (not offset or letter.offset in offset)
        and (error_code is None or letter.details.get("error_code") == error_code)
        and (partition is None or letter.partition == partition)
    ]
    count = asyncio.run(replay(bootstrap_servers, letters, dlq_topic))
    typer.echo(f"replayed {count} dead letter(s) from {dlq_topic}")
