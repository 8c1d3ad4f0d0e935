"""Consumer lag per partition, from what the consumer already knows: no extra Kafka call.

Every fetch response carries each partition's high-water mark (the offset the next produced
record will get), and aiokafka keeps the last one (``highwater``). The consumer knows the next
offset it has to apply: one past the last record of the last batch it committed. Lag is the
difference, exported as ``orderflow_consumer_lag`` at every poll (records or not, so an idle
partition reads 0 and a stalled one keeps growing) and again after every applied batch.

A partition this process has not applied anything from yet counts from the first record its
poll returned; when the poll returned none, the consumer is taken to have fetched up to the
high-water mark and its lag is 0. That is a guess: aiokafka may know a partition's high-water
mark before its records reach a poll (a poll that ends while the fetch answer is read), so
the first records fetched later replace the guess, until a batch is applied. A partition
that moved to another instance is no longer exported here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Protocol

from aiokafka import ConsumerRecord, TopicPartition

from orderflow_chassis import metrics


class PartitionView(Protocol):
    """What lag needs of an aiokafka consumer (``AIOKafkaConsumer`` has it)."""

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...


class LagTracker:
    """Exports one consumer group's lag per assigned partition (see the module docstring)."""

    def __init__(self, service: str, consumer: str) -> None:
        self._service = service
        self._consumer = consumer
        self._next_offset: dict[TopicPartition, int] = {}
        self._highwater: dict[TopicPartition, int] = {}
        self._exported: set[TopicPartition] = set()
        self._guessed: set[TopicPartition] = set()  # next offsets taken from an empty poll

    def polled(self, consumer: PartitionView, records: Iterable[ConsumerRecord]) -> None:
        """After a poll: refresh every assigned partition's lag from its high-water mark."""
        # (topic, partition) tuples: equal to TopicPartition, without building one per record.
        first_fetched: dict[tuple[str, int], int] = {}
        for record in records:
            key = (record.topic, record.partition)
            if record.offset < first_fetched.get(key, record.offset + 1):
                first_fetched[key] = record.offset
        assigned = consumer.assignment()
        for tp in self._exported - assigned:
            self._forget(tp)
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # not fetched yet
            self._highwater[tp] = highwater
            fetched_from = first_fetched.get((tp.topic, tp.partition))
            if tp not in self._next_offset or (tp in self._guessed and fetched_from is not None):
                self._next_offset[tp] = highwater if fetched_from is None else fetched_from
                if fetched_from is None:
                    self._guessed.add(tp)
                else:
                    self._guessed.discard(tp)
            self._export(tp)

    def applied(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """After a batch committed: each of its partitions is applied up to the offset given
        (:func:`~orderflow_chassis.consumer_records.next_offsets`)."""
        for tp, offset in next_offsets.items():
            self._guessed.discard(tp)
            if offset > self._next_offset.get(tp, -1):
                self._next_offset[tp] = offset
            if tp in self._highwater:
                self._export(tp)

    def _export(self, tp: TopicPartition) -> None:
        lag = max(0, self._highwater[tp] - self._next_offset[tp])
        metrics.CONSUMER_LAG.labels(self._service, self._consumer, tp.topic, str(tp.partition)).set(
            lag
        )
        self._exported.add(tp)

    def _forget(self, tp: TopicPartition) -> None:
        # Another instance applies it now; what this one knew of it goes stale.
        self._exported.discard(tp)
        self._guessed.discard(tp)
        self._next_offset.pop(tp, None)
        self._highwater.pop(tp, None)
        with contextlib.suppress(KeyError):  # never exported
            metrics.CONSUMER_LAG.remove(self._service, self._consumer, tp.topic, str(tp.partition))
