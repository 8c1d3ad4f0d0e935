"""The rows a publish round holds back, and what ops are told of them.

Two things hold rows back, each with their keys (so an aggregate's later rows wait too):
a topic Kafka gives no partitions for (:mod:`orderflow_chassis.relay_routing`) and a partition
that did not acknowledge in time (:mod:`orderflow_chassis.relay_partitions`). This puts them
together for the relay's round: the keys to leave out of a claim, which of a claim's rows to
send (probes among them), what a round's report teaches, and the log lines, gauges and health
text that say what waits and why.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition

from orderflow_chassis import metrics
from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay_partitions import PausedPartitions, Sorted
from orderflow_chassis.relay_routing import Router
from orderflow_chassis.relay_sending import SendReport

log = structlog.get_logger(__name__)

Routes = dict[int, TopicPartition]  # outbox id -> the partition the row goes to


class Holdbacks:
    """A leading relay's paused partitions and unknown topics (see the module)."""

    def __init__(self, *, service: str, ack_timeout_s: float, probe_timeout_s: float) -> None:
        self._service = service
        self._paused = PausedPartitions(pause_s=ack_timeout_s)
        self._router = Router(wait_s=probe_timeout_s, retry_after_s=ack_timeout_s)
        self._paused_reported: list[TopicPartition] = []
        self._unknown_reported = ""

    def held_keys(self) -> list[str]:
        """The keys the next claim leaves out."""
        return sorted({*self._paused.held_keys(), *self._router.held_keys()})

    async def sort_out(
        self, producer: AIOKafkaProducer, rows: Sequence[OutboxRow], *, complete: bool
    ) -> tuple[Routes, Sorted]:
        """Where each of a claim's rows goes, and which of them to send this round.
        ``complete``: the claim held every pending row it could."""
        routes = await self._router.routes(producer, rows)
        routable, held_for_topics = self._router.hold_unknown(rows, routes, complete=complete)
        # A paused partition of an unknown topic is not seen in the claim: not a sign that it
        # has nothing left to probe.
        sorted_out = self._paused.sort_out(
            routable, routes, complete=complete and not held_for_topics
        )
        sorted_out.held_back += held_for_topics
        return routes, sorted_out

    def learn(self, report: SendReport, probes: set[int], routes: Routes) -> None:
        """What a round's ``report`` says of its partitions (and its ``probes``)."""
        self._paused.learn_from(report, probes, routes)
        paused = self._paused.paused
        metrics.OUTBOX_PAUSED_PARTITIONS.labels(self._service).set(len(paused))
        if paused != self._paused_reported:
            self._paused_reported = paused
            names = self._paused.describe() or "none"
            log.warning("outbox.partitions_paused", partitions=names, held_back=report.held_back)

    def problem(self) -> str | None:
        """What holds rows back now, for the relay's health (None: nothing); the unknown
        topics are logged and counted when they change."""
        unknown_topics = self._router.unknown_topics()
        metrics.OUTBOX_UNKNOWN_TOPICS.labels(self._service).set(len(unknown_topics))
        unknown = "; ".join(f"{topic} ({why})" for topic, why in unknown_topics.items())
        if unknown != self._unknown_reported:
            self._unknown_reported = unknown
            log.warning("outbox.topics_unknown", topics=unknown or "none")
        if paused := self._paused.describe():
            return f"Kafka did not acknowledge {paused} in time: their rows wait"
        if unknown:
            return f"Kafka gives no partitions for {unknown}: their rows wait"
        return None

    def forget_all(self) -> None:
        """The relay no longer leads: what a later lead finds pending, it learns anew."""
        self._paused.forget_all()
        self._router.forget_all()
        self._paused_reported, self._unknown_reported = [], ""
        metrics.OUTBOX_PAUSED_PARTITIONS.labels(self._service).set(0)
        metrics.OUTBOX_UNKNOWN_TOPICS.labels(self._service).set(0)

    async def close(self) -> None:
        await self._router.close()
