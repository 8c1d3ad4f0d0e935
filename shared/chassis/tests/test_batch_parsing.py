"""The batch handed to FastStream's parser: one tolerant record stands for the batch, while
the consumer keeps every real record."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord
from orderflow_chassis.consumer_records import parse_any_headers


def record(offset: int, headers: list[tuple[str, Any]]) -> ConsumerRecord:
    return ConsumerRecord("orders", 0, offset, 1000 + offset, 0, b"k", b"{}", None, 1, 2, headers)


class Parsed:
    raw_message: Any = None
    message_id: str = ""


async def test_the_parser_reads_one_tolerant_record_and_the_message_keeps_them_all() -> None:
    seen: list[tuple[ConsumerRecord, ...]] = []

    async def original(batch: tuple[ConsumerRecord, ...]) -> Parsed:
        seen.append(batch)
        for each in batch:  # as FastStream does: strict UTF-8 for every header value
            {name: value.decode() for name, value in each.headers}
        return Parsed()

    records = (
        record(5, [("event_type", b"\xff\xfe"), ("traceparent", None)]),
        record(6, [("event_type", b"OrderPlaced")]),
        record(7, [("event_type", b"\xc3")]),
    )

    message = await parse_any_headers(records, original)

    assert len(seen) == 1
    assert len(seen[0]) == 1, "one record stands for the batch"
    assert seen[0][0].headers == [("event_type", "\ufffd\ufffd".encode()), ("traceparent", b"")]
    assert message.raw_message is records, "the consumer reads the real records"
    assert message.message_id == "5-7-1005", "first and last offsets, as FastStream names it"
