"""Where each outbox row goes, and the topics Kafka gives no partitions for.

The relay sends every row to an explicit partition: the one the producer's own partitioner
picks (murmur2 of the key, as the Java client) on the topic's partitions as the producer's
metadata has them, so that it knows which rows a paused partition holds
(:mod:`orderflow_chassis.relay_partitions`). A producer that replaced a stuck one starts
without metadata, and a topic it has none for is asked for.

A topic whose partitions cannot be learned is *unknown*: Kafka does not have it and will not
create it (deleted, or renamed while rows for it were pending, with auto-create off), refuses
this service (its ACLs), or cannot be reached. Sent, such a row waited for its topic's
metadata before the producer even took it, and every row behind it in its wave with it: one
missing topic stopped all of a service's publishing. Now its rows are held back, neither sent
nor failed, and their keys (with their later rows on every topic) are left out of the claims.
Every ``retry_after_s`` only the rows of its *probe key* (the key of its oldest row) are
claimed again and the topic asked for: known, all its keys flow again; not, it waits another
round. The asking runs beside the rounds: a round waits ``quick_s`` for an answer (a broker
that has the topic answers in milliseconds) and holds the topic's rows if none came yet; an
ask gives up after ``wait_s``. A name Kafka cannot take is not asked for: its rows go
unrouted, and :func:`~orderflow_chassis.relay_sending.publish_row` refuses them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from orderflow_chassis.errors import describe_error
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay_sending import is_legal_topic

_PARTITIONER = DefaultPartitioner()


def partition_of(key: str, partitions: Sequence[int]) -> int:
    """The partition the producer's default partitioner picks for ``key`` (murmur2, as the
    Java client does) among the topic's ``partitions``, sorted."""
    chosen: int = _PARTITIONER(key.encode(), partitions, None)
    return chosen


@dataclass
class _Unknown:
    """A topic without partitions: asked for again at ``until`` (infinity while an ask is
    out), ``reason`` the last ask's answer (None before the first)."""

    until: float
    reason: str | None = None
    keys: set[str] = field(default_factory=set)
    probe_key: str | None = None  # the key of its oldest row: claimed again when it is due


Answer = tuple[frozenset[int], str]  # the topic's partitions (none: unknown), and why none


class Router:
    """Each row's partition, and the rows held back for unknown topics (see the module)."""

    def __init__(
        self,
        *,
        wait_s: float,
        retry_after_s: float,
        quick_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s
        self._quick_s = min(quick_s, wait_s)
        self._clock = clock
        self._unknown: dict[str, _Unknown] = {}
        self._asking: dict[str, asyncio.Task[Answer]] = {}
        self._asked_of: AIOKafkaProducer | None = None

    async def routes(
        self, producer: AIOKafkaProducer, rows: Sequence[OutboxRow]
    ) -> dict[int, TopicPartition]:
        """Each row's partition; none for a row of a topic whose partitions are not known
        (being asked for, or unknown) or of a name Kafka cannot take."""
        if producer is not self._asked_of:  # asks of a replaced producer answer nothing
            self._cancel_asks()
            self._asked_of = producer
        now = self._clock()
        partitions: dict[str, tuple[int, ...]] = {}  # sorted, as the partitioner takes them
        started: list[asyncio.Task[Answer]] = []
        for topic in {row.topic for row in rows}:
            if known := producer.client.cluster.partitions_for_topic(topic):
                partitions[topic] = tuple(sorted(known))
            elif is_legal_topic(topic) and topic not in self._asking and self._due(topic, now):
                started.append(asyncio.create_task(self._ask(producer, topic)))
                self._asking[topic] = started[-1]
        if started:  # only this round's asks are waited for: the older ones are late anyway
            await asyncio.wait(started, timeout=self._quick_s)
        for topic, task in list(self._asking.items()):
            if not task.done():
                self._unknown.setdefault(topic, _Unknown(math.inf)).until = math.inf
                continue
            del self._asking[topic]
            known, reason = task.result()
            if known:
                partitions[topic] = tuple(sorted(known))
            else:
                unknown = self._unknown.setdefault(topic, _Unknown(math.inf))
                unknown.until, unknown.reason = self._clock() + self._retry_after_s, reason
        for topic in partitions:
            self._unknown.pop(topic, None)
        return {
            row.id: TopicPartition(row.topic, partition_of(row.key, topic_partitions))
            for row in rows
            if (topic_partitions := partitions.get(row.topic))
        }

    def _due(self, topic: str, now: float) -> bool:
        unknown = self._unknown.get(topic)
        return unknown is None or unknown.until <= now

    async def _ask(self, producer: AIOKafkaProducer, topic: str) -> Answer:
        try:
            async with asyncio.timeout(self._wait_s):
                return frozenset(await producer.partitions_for(topic)), ""
        except TimeoutError:
            return frozenset(), (
                f"no partitions within {self._wait_s:g} s: Kafka does not have it, "
                "or is out of reach"
            )
        except Exception as error:  # refused (its ACLs), or the producer is stopping
            return frozenset(), describe_error(error)

    def hold_unknown(
        self, rows: Sequence[OutboxRow], routes: dict[int, TopicPartition], *, complete: bool
    ) -> tuple[list[OutboxRow], int]:
        """``rows`` (in id order) without those of unknown topics and their keys' later rows;
        and how many were held back. Their keys are left out of the claims from now on.
        ``complete``: the claim held every pending row it could; an unknown topic that is due
        and had none in it has lost its probe key's rows (parked, say), so all of its keys are
        claimed next time, and if even then none is, it is forgotten."""
        going: list[OutboxRow] = []
        held_now: set[str] = set()
        seen: set[str] = set()
        for row in rows:
            unknown = None if row.id in routes else self._unknown.get(row.topic)
            if unknown is None and row.key not in held_now:
                going.append(row)
                continue
            held_now.add(row.key)
            if unknown is not None:
                seen.add(row.topic)
                unknown.keys.add(row.key)
                if unknown.probe_key is None:
                    unknown.probe_key = row.key
        if complete:
            now = self._clock()
            for topic, unknown in list(self._unknown.items()):
                if topic in seen or unknown.until > now:
                    continue
                if unknown.probe_key is None:
                    del self._unknown[topic]  # every key was claimable: nothing is left of it
                else:
                    unknown.probe_key = None
        return going, len(rows) - len(going)

    def held_keys(self) -> list[str]:
        """The keys to leave out of the next claim: those of unknown topics, but the probe
        key of one that is due (all of them if it has none)."""
        now = self._clock()
        held: set[str] = set()
        for unknown in self._unknown.values():
            if unknown.until > now:
                held |= unknown.keys
            elif unknown.probe_key is not None:
                held |= unknown.keys - {unknown.probe_key}
        return sorted(held)

    def unknown_topics(self) -> dict[str, str]:
        """The topics Kafka gave no partitions for when last asked, with why."""
        return {
            topic: unknown.reason
            for topic, unknown in sorted(self._unknown.items())
            if unknown.reason is not None
        }

    def forget_all(self) -> None:
        """This relay no longer leads: the next leader learns for itself."""
        self._cancel_asks()
        self._unknown.clear()

    async def close(self) -> None:
        """Cancel the asks still out, and wait for them to end."""
        asking = list(self._asking.values())
        self._cancel_asks()
        await asyncio.gather(*asking, return_exceptions=True)

    def _cancel_asks(self) -> None:
        """Drop the asks out; their topics are due to be asked for again at once."""
        for topic, task in self._asking.items():
            task.cancel()
            if (unknown := self._unknown.get(topic)) is not None:
                unknown.until = 0.0
        self._asking.clear()
