"""A fetched partition whose records include header names that are not UTF-8 is read whole,
through aiokafka's own partition reader, as a consumer fetch reads it."""

from __future__ import annotations

import struct

import pytest
from aiokafka.consumer import fetcher
from aiokafka.record import memory_records
from aiokafka.record.default_records import (
    DefaultRecordBase,
    _DefaultRecordBatchBuilderPy,
    _DefaultRecordBatchPy,
)
from aiokafka.structs import TopicPartition
from orderflow_chassis import kafka_record_batches
from orderflow_chassis.kafka_record_batches import TolerantMemoryRecords

from tests.support.kafka_tools import RawHeaderName

Header = tuple[str | bytes, bytes | None]
Record = tuple[bytes | None, bytes | None, list[Header]]


def batch(base_offset: int, records: list[Record], *, codec: int = 0) -> bytes:
    """One batch of message format 2, as the broker returns it from ``base_offset``."""
    builder = _DefaultRecordBatchBuilderPy(2, codec, 0, -1, -1, -1, 1 << 20)
    for delta, (key, value, headers) in enumerate(records):
        named = [(RawHeaderName(n) if isinstance(n, bytes) else n, v) for n, v in headers]
        builder.append(delta, timestamp=1_700_000_000_000 + delta, key=key, value=value,
                       headers=named)  # fmt: skip
    data = builder.build()
    struct.pack_into(">q", data, 0, base_offset)  # outside the CRC, which starts later
    return bytes(data)


def read(
    data: bytes, isolation: int = fetcher.READ_COMMITTED
) -> list[tuple[int, bytes | None, bytes | None, tuple[Header, ...]]]:
    """Every record of ``data`` as aiokafka's fetcher hands it to a consumer (CRCs checked;
    read committed, as the services read)."""
    partition = fetcher.PartitionRecords(
        TopicPartition("orders", 0),
        TolerantMemoryRecords(data),
        [],
        0,
        None,
        None,
        True,
        isolation,
    )
    return [(r.offset, r.key, r.value, r.headers) for r in partition]


GOOD: list[Record] = [(b"k1", b"v1", [("event_type", b"OrderPlaced")])]
BAD_NAME = b"\xff\xfe-trace"


@pytest.mark.parametrize(
    "codec", [0, DefaultRecordBase.CODEC_GZIP, DefaultRecordBase.CODEC_ZSTD], ids=str
)
def test_a_header_name_not_utf8_is_read_with_replacement_characters_and_nothing_is_skipped(
    codec: int,
) -> None:
    middle: list[Record] = [
        (b"k2", b"v2", [("event_type", b"OrderPlaced")]),
        (b"k3", b"v3", [(BAD_NAME, b"1"), ("event_type", b"OrderPlaced")]),
        (b"k4", None, [("x", None)]),
    ]
    data = batch(0, GOOD) + batch(1, middle, codec=codec) + batch(4, GOOD)

    assert read(data) == [
        (0, b"k1", b"v1", (("event_type", b"OrderPlaced"),)),
        (1, b"k2", b"v2", (("event_type", b"OrderPlaced"),)),
        (2, b"k3", b"v3", (("\ufffd\ufffd-trace", b"1"), ("event_type", b"OrderPlaced"))),
        (3, b"k4", None, (("x", None),)),
        (4, b"k1", b"v1", (("event_type", b"OrderPlaced"),)),
    ]


def test_the_first_record_of_a_batch_can_be_the_one_with_the_name() -> None:
    data = batch(7, [(None, b"v", [(BAD_NAME, None)]), (b"k", b"w", [])])

    assert read(data) == [
        (7, None, b"v", (("\ufffd\ufffd-trace", None),)),
        (8, b"k", b"w", ()),
    ]


def test_aiokafka_without_its_c_extension_is_read_past_it_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its Python reader wraps the decode error in a CorruptRecordException.
    monkeypatch.setattr(
        kafka_record_batches, "_aiokafka_memory_records", memory_records._MemoryRecordsPy
    )
    monkeypatch.setattr(memory_records, "DefaultRecordBatch", _DefaultRecordBatchPy)
    data = batch(0, [(b"k", b"v", [(BAD_NAME, b"1")]), (b"k", b"w", [])])

    assert read(data, fetcher.READ_UNCOMMITTED) == [
        (0, b"k", b"v", (("\ufffd\ufffd-trace", b"1"),)),
        (1, b"k", b"w", ()),
    ]


def test_aiokafka_alone_cannot_read_past_such_a_record() -> None:
    """Why the reader exists: aiokafka raises on the record, fetch after fetch."""
    data = batch(0, [(b"k", b"v", [(BAD_NAME, b"1")])])
    partition = fetcher.PartitionRecords(
        TopicPartition("orders", 0),
        memory_records.MemoryRecords(data),  # aiokafka's own, not the fetcher's name
        None,
        0,
        None,
        None,
        True,
        fetcher.READ_UNCOMMITTED,
    )
    with pytest.raises(UnicodeDecodeError):
        list(partition)


def test_a_batch_cut_short_by_the_fetch_size_is_left_for_the_next_fetch() -> None:
    whole = batch(0, GOOD)
    data = whole + batch(1, GOOD)[:20]

    assert read(data) == [(0, b"k1", b"v1", (("event_type", b"OrderPlaced"),))]
    assert TolerantMemoryRecords(whole[:20]).has_next() is False


def test_the_chassis_installs_the_reader_for_every_consumer() -> None:
    import orderflow_chassis  # noqa: F401  (installs it on import)

    assert fetcher.MemoryRecords is TolerantMemoryRecords
