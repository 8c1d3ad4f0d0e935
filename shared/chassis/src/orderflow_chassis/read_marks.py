"""Has a consumer applied everything some topics held at a given moment?

A use case that waits for a fact from another topic (returns holds a request until the
delivery it is judged on is read) cannot tell "it never came" from "it is not read yet" by
the clock alone: a consumer behind by more than the wait (an outage, a backlog, a slow
partition) turns a late read into a wrong answer. Marks tell them apart: the end offset of
every partition of the topics at a moment (``ReadMarks.take``, from Kafka), and later whether
the consumer group's stored positions, which are committed with the effects
(:mod:`orderflow_chassis.positions`), reached them all (:func:`stored_positions`, then
:func:`marks_reached`). Every record published before the marks were taken has then been
applied, by whichever instance owns its partition.

Positions of records a consumer only passed over (no handler) are stored at its next offset
commit (:mod:`orderflow_chassis.offset_commits`): a consumer with nothing to apply reaches its
marks within a commit interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from orderflow_chassis.database import Connection
from orderflow_chassis.errors import TransientError, describe_error
from orderflow_chassis.kafka_admin import topic_partitions
from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options
from orderflow_chassis.settings import ServiceSettings, validate_identifier
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_chassis.waiting import wait_at_most

Marks = dict[str, int]
"""``"<topic>/<partition>"`` -> the partition's end offset when the marks were taken (a JSON
object, so a use case can store it with what waits on it)."""

KAFKA_CALL_S = 10.0


def mark_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class ReadMarks:
    """Marks on ``topics``, to be reached by the consumer group ``consumer``."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        security: KafkaSecurity,
        consumer: str,
        topics: Sequence[str],
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._security = security
        self._consumer = consumer
        self._topics = list(topics)

    @classmethod
    def of_subscription(
        cls, settings: ServiceSettings, subscription: str, topics: Sequence[str]
    ) -> ReadMarks:
        """Marks on the service's contract ``topics``, to be reached by its ``subscription``."""
        return cls(
            settings.kafka_bootstrap_servers,
            security=settings.kafka_security,
            consumer=settings.subscription_group(subscription),
            topics=[settings.topic(name) for name in topics],
        )

    @property
    def consumer(self) -> str:
        return self._consumer

    async def take(self) -> Marks:
        """The end offset of every partition of the topics now (read committed, as the
        services read). Raises a transient error when Kafka fails, does not answer within
        ``KAFKA_CALL_S`` or leaves a topic out: nothing may be concluded without marks."""
        try:
            return await wait_at_most(KAFKA_CALL_S, self._end_offsets())
        except KafkaError as error:  # the broker away: the same call may succeed later
            raise TransientError(f"read marks: {describe_error(error)}") from error

    async def _end_offsets(self) -> Marks:
        partitions = await topic_partitions(self._bootstrap, self._topics, self._security)
        unlisted = [topic for topic in self._topics if not partitions.get(topic)]
        if unlisted:  # left out, its mark would count as reached before anything was read
            raise TransientError(
                f"read marks: Kafka did not list {', '.join(unlisted)} (deleted, not described "
                "to this client, or a broker's metadata incomplete)"
            )
        assigned = [TopicPartition(t, p) for t, numbers in partitions.items() for p in numbers]
        if not assigned:
            return {}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            **kafka_client_options(self._security),
        )
        try:  # started inside: a start cut short by the timeout is stopped too
            await consumer.start()
            ends = await consumer.end_offsets(assigned)
        finally:
            await stop_consumer(consumer)
        return {mark_key(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def stored_positions(connection: Connection, schema: str, consumer: str) -> Marks:
    """``consumer``'s stored positions in ``schema``, keyed as marks are: read once, they can be
    compared with any number of marks (positions only grow)."""
    rows = await connection.fetch(
        f"""
        SELECT topic, kafka_partition, next_offset
        FROM {validate_identifier(schema)}.consumer_positions WHERE consumer = $1
        """,
        consumer,
    )
    return {mark_key(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}


def marks_reached(positions: Mapping[str, int], marks: Mapping[str, int]) -> bool:
    """Whether ``positions`` reached every mark (an empty partition's mark, 0, is reached
    before anything is stored for it)."""
    return all(positions.get(key, 0) >= mark for key, mark in marks.items())
