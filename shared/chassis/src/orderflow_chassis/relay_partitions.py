"""Partitions Kafka does not acknowledge: their rows wait, every other row flows.

A row Kafka does not acknowledge in time ends its round (decision 64). One partition whose
leader is out of reach, or which is below its ``min.insync.replicas``, then ended every round:
each claim holds the oldest rows, so the same rows (or new ones for that partition) came first
again, and every aggregate of the service was published at one round per timeout.

So the relay knows where each row goes (:mod:`orderflow_chassis.relay_routing`; the row is then
sent to that partition explicitly) and *pauses* a partition that did not acknowledge
in time. While it is paused its rows are held back (neither sent nor failed) and their keys are
left out of the claims, which fill up with other rows. After ``pause_s`` the partition's oldest
row is sent again as a *probe*, waited for at most ``probe_timeout_s``: acknowledged, the
partition flows again; not, it stays paused. Order is kept: every row of a key goes to one
partition, so a key's rows are held back together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from orderflow_chassis.outbox_store import OutboxRow
from orderflow_chassis.relay_sending import SendReport


@dataclass
class Sorted:
    """A claim sorted out: what to send (``probes`` among it) and how many rows were held."""

    send: list[OutboxRow] = field(default_factory=list)
    probes: set[int] = field(default_factory=set)  # outbox ids
    held_back: int = 0


class PausedPartitions:
    """The partitions Kafka did not acknowledge in time, and the keys held back for them.

    A paused partition's *probe key* is that of its first row not acknowledged, its oldest
    pending row (claims go in id order): when the pause runs out, only that key's rows are
    claimed again, so that a long backlog of the partition does not fill the probe round's
    claim. A key held back holds its later rows on every topic (the waves keep a key's order
    across topics too).
    """

    def __init__(self, *, pause_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._pause_s = pause_s
        self._clock = clock
        self._until: dict[TopicPartition, float] = {}  # paused until then; then probed
        self._held_keys: dict[TopicPartition, set[str]] = {}
        self._probe_key: dict[TopicPartition, str] = {}

    @property
    def paused(self) -> list[TopicPartition]:
        """The partitions paused, or waiting for their probe's answer."""
        return sorted(self._until)

    def held_keys(self) -> list[str]:
        """The keys to leave out of the next claim: those of the paused partitions, except
        the probe key of a partition whose pause has run out (all of its keys if it has none:
        its probe row was parked)."""
        now = self._clock()
        held: set[str] = set()
        for partition, keys in self._held_keys.items():
            if self._until.get(partition, 0.0) > now:
                held |= keys
            elif (probe := self._probe_key.get(partition)) is not None:
                held |= keys - {probe}
        return sorted(held)

    def sort_out(
        self, rows: Sequence[OutboxRow], routes: dict[int, TopicPartition], *, complete: bool
    ) -> Sorted:
        """Which of ``rows`` (in id order) to send: all but those of a paused partition, of
        which only the oldest goes, as a probe, once its pause has run out (with its key's
        later rows, which the waves send only once it is acknowledged). ``complete``: the
        claim held every pending row it could, so a partition whose pause has run out and
        that had none in it has nothing left to probe, and is forgotten."""
        now = self._clock()
        result = Sorted()
        probe_keys: dict[TopicPartition, str] = {}
        held_now: set[str] = set()  # keys held back by this claim, on any topic
        claimed: set[TopicPartition] = set()
        for row in rows:
            partition = routes.get(row.id)
            until = None if partition is None else self._until.get(partition)
            if partition is not None and until is not None:
                claimed.add(partition)
            if row.key in held_now:
                result.held_back += 1
            elif partition is None or until is None:
                result.send.append(row)
            elif until <= now and probe_keys.setdefault(partition, row.key) == row.key:
                if len(result.probes) < len(probe_keys):  # the first row of a new probe
                    result.probes.add(row.id)
                result.send.append(row)
            else:
                self._held_keys.setdefault(partition, set()).add(row.key)
                held_now.add(row.key)
                result.held_back += 1
        if complete:
            for partition in [p for p, until in self._until.items() if until <= now]:
                if partition not in claimed:
                    self._forget(partition)
        return result

    def learn(
        self,
        acknowledged: Iterable[OutboxRow],
        unanswered: Iterable[OutboxRow],
        routes: dict[int, TopicPartition],
        *,
        failed_probes: Iterable[OutboxRow] = (),
        parked: Iterable[OutboxRow] = (),
    ) -> None:
        """A partition that acknowledged a row flows again; one that left a row it took
        unanswered, or whose probe failed otherwise, is paused (again). A parked probe leaves
        its partition without one: all its keys are claimed again when the pause runs out."""
        for row in acknowledged:
            if (partition := routes.get(row.id)) is not None:
                self._forget(partition)
        until = self._clock() + self._pause_s
        for row in [*unanswered, *failed_probes]:
            if (partition := routes.get(row.id)) is not None:
                self._until[partition] = until
                self._held_keys.setdefault(partition, set()).add(row.key)
                self._probe_key.setdefault(partition, row.key)
        for row in parked:
            partition = routes.get(row.id)
            if partition is not None and self._probe_key.get(partition) == row.key:
                del self._probe_key[partition]

    def learn_from(
        self, report: SendReport, probes: set[int], routes: dict[int, TopicPartition]
    ) -> None:
        """:meth:`learn` what a round's ``report`` says of its rows and ``probes``."""
        answered = {row.id for row in report.acknowledged}
        self.learn(
            report.acknowledged,
            report.unanswered,
            routes,
            failed_probes=[
                refusal.row
                for refusal in [*report.transient, *report.refused]
                if refusal.row.id in probes and refusal.row.id not in answered
            ],
            parked=[refusal.row for refusal in report.parked],
        )

    def describe(self) -> str:
        """The paused partitions as ``topic[partition]``, comma-separated ("" if none)."""
        return ", ".join(f"{p.topic}[{p.partition}]" for p in self.paused)

    def forget_all(self) -> None:
        """This relay no longer leads: the next leader learns for itself."""
        self._until.clear()
        self._held_keys.clear()
        self._probe_key.clear()

    def _forget(self, partition: TopicPartition) -> None:
        self._until.pop(partition, None)
        self._held_keys.pop(partition, None)
        self._probe_key.pop(partition, None)
