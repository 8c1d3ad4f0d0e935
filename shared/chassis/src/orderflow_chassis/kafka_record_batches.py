"""Record batches read even when a header name is not UTF-8.

Kafka's protocol types a header name as a UTF-8 string, and aiokafka's record reader decodes it
strictly. Any client that writes the bytes itself can send another name, and one such record
then raises ``UnicodeDecodeError`` out of every fetch that holds it: the consumer rewinds, fetches
the same batch again, and its partition is never read past that record (a stall, not an error
anyone can act on).

So every batch is read by aiokafka's C reader as before, and only a batch it cannot decode is
read again, from its first record not yet handed over, by a Python reader that decodes header
names with U+FFFD for the bytes that are not UTF-8. The record then goes through the consumer as
any other: a header name no consumer knows is ignored, so a valid event is applied and anything
else is dead-lettered with its cause. Each fallback is logged (``kafka.header_name_not_utf8``)
with the partition and offset. On the usual path the wrapper costs about 3 µs per batch and a
Python call per record. aiokafka without its C extension reports the same failure as a
``CorruptRecordException`` caused by the decode error; that is caught too.

:func:`read_header_names_tolerantly` installs this for every aiokafka consumer in the process; the
chassis does so when it is imported, as every process that reads Kafka imports it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import structlog
from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record import memory_records
from aiokafka.record.default_records import _DefaultRecordBatchPy, _DefaultRecordPy
from aiokafka.record.util import decode_varint

# A batch on the wire: base offset (int64), then its length after these 12 bytes (int32).
_LENGTH_AT = 8
_LOG_OVERHEAD = 12
# Batches of message format 2 and later carry headers; the magic byte says which format.
_MAGIC_AT = 16
_HEADERS_SINCE_MAGIC = 2

_aiokafka_memory_records = memory_records.MemoryRecords

log = structlog.get_logger(__name__)


class TolerantMemoryRecords:
    """aiokafka's ``MemoryRecords`` (the batches of one fetched partition), each batch of format
    2 wrapped in a :class:`_TolerantBatch`. Walks the batch boundaries in step with aiokafka's
    reader, which does every check on them."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._records = _aiokafka_memory_records(data)
        self._next_at = 0

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None:
            return None
        start = self._next_at
        (length,) = struct.unpack_from(">i", self._data, start + _LENGTH_AT)
        self._next_at = start + _LOG_OVERHEAD + length
        if self._data[start + _MAGIC_AT] < _HEADERS_SINCE_MAGIC:
            return batch
        return _TolerantBatch(batch, memoryview(self._data)[start : self._next_at])


class _TolerantBatch:
    """One batch read by aiokafka's reader until a header name fails to decode; from that
    record on, read by :class:`_NameTolerantBatch`. Everything else is aiokafka's batch."""

    __slots__ = ("_fast", "_next_offset", "_raw", "_tolerant")

    def __init__(self, fast: Any, raw: memoryview) -> None:
        self._fast = fast
        self._raw = raw
        self._tolerant: Iterator[Any] | None = None
        self._next_offset = -1

    # What aiokafka's fetcher reads of every batch, without the cost of __getattr__.
    base_offset = property(lambda self: self._fast.base_offset)
    next_offset = property(lambda self: self._fast.next_offset)
    producer_id = property(lambda self: self._fast.producer_id)
    is_control_batch = property(lambda self: self._fast.is_control_batch)
    is_transactional = property(lambda self: self._fast.is_transactional)

    def validate_crc(self) -> bool:
        return bool(self._fast.validate_crc())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fast, name)

    def __iter__(self) -> _TolerantBatch:
        self._fast = iter(self._fast)  # aiokafka's batch decompresses when iteration starts
        return self

    def __next__(self) -> Any:
        if self._tolerant is None:
            try:
                record = next(self._fast)
            except (UnicodeDecodeError, CorruptRecordException) as error:
                if not _a_header_name(error):
                    raise
                since = self._next_offset
                log.warning(
                    "kafka.header_name_not_utf8",
                    batch_base_offset=self._fast.base_offset,
                    after_offset=since,
                    error=str(error),
                )
                self._tolerant = (r for r in _NameTolerantBatch(self._raw) if r.offset >= since)
            else:
                self._next_offset = record.offset + 1
                return record
        return next(self._tolerant)


class _NameTolerantBatch(_DefaultRecordBatchPy):  # type: ignore[misc]  # final in aiokafka's stubs
    """aiokafka's Python batch reader, with header names decoded with U+FFFD where they are not
    UTF-8 (the layout of a record: https://kafka.apache.org/documentation/#record)."""

    def _read_msg(self, decode: Any = decode_varint) -> _DefaultRecordPy:
        buffer: bytearray = self._buffer
        pos: int = self._pos  # type: ignore[has-type]  # untyped in aiokafka
        length, pos = decode(buffer, pos)
        end = pos + length
        _attributes, pos = decode(buffer, pos)
        timestamp_delta, pos = decode(buffer, pos)
        offset_delta, pos = decode(buffer, pos)
        key, pos = _nullable_bytes(buffer, pos, decode)
        value, pos = _nullable_bytes(buffer, pos, decode)
        count, pos = decode(buffer, pos)
        if count < 0:
            raise ValueError(f"a record with {count} headers")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            name, pos = _nullable_bytes(buffer, pos, decode)
            if name is None:
                raise ValueError("a header without a name")
            header_value, pos = _nullable_bytes(buffer, pos, decode)
            headers.append((name.decode("utf-8", "replace"), header_value))
        if pos != end:
            raise ValueError(f"a record of {length} bytes read as {length + pos - end}")
        self._pos = pos
        if self.timestamp_type == self.LOG_APPEND_TIME:
            timestamp = self.max_timestamp
        else:
            timestamp = self.first_timestamp + timestamp_delta
        return _DefaultRecordPy(
            self.base_offset + offset_delta, timestamp, self.timestamp_type, key, value, headers
        )


def _a_header_name(error: BaseException) -> bool:
    """Whether the reader failed on bytes that are not UTF-8 (only header names are decoded;
    aiokafka's Python reader wraps the error in a ``CorruptRecordException``)."""
    return isinstance(error, UnicodeDecodeError) or isinstance(error.__cause__, UnicodeDecodeError)


def _nullable_bytes(buffer: bytearray, pos: int, decode: Any) -> tuple[bytes | None, int]:
    size, pos = decode(buffer, pos)
    if size < 0:
        return None, pos
    return bytes(buffer[pos : pos + size]), pos + size


def read_header_names_tolerantly() -> None:
    """Have every aiokafka consumer of this process read batches through
    :class:`TolerantMemoryRecords` (idempotent)."""
    fetcher.MemoryRecords = TolerantMemoryRecords
