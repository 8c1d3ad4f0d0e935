"""The warehouse simulator's bookkeeping of what it read and took on; no Kafka here.

* :class:`Offsets`: per partition, the requests still being worked on, so that an offset is
  committed only once its parcel is done and a simulator stopped mid-way redoes it.
* :class:`RequestsTakenOn`: each shipment or RMA is worked on once. Kafka delivers at least
  once (a relay that lost its lease may publish a ``FulfillmentRequested`` again), and a parcel
  shipped again after its delivery would put its sequence 1 after its 2.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from aiokafka import TopicPartition

log = structlog.get_logger(__name__)

REMEMBERED_REQUESTS = 100_000
"""Shipments and RMAs remembered as handled, newest kept: duplicates come within seconds."""


@dataclass
class Offsets:
    """Per partition: offsets in progress, and the highest offset read. The committable
    position is the lowest in progress, else one past the highest read."""

    pending: dict[TopicPartition, set[int]] = field(default_factory=lambda: defaultdict(set))
    highest: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)

    def begin(self, tp: TopicPartition, offset: int) -> None:
        self.pending[tp].add(offset)
        self.highest[tp] = max(offset, self.highest.get(tp, -1))

    def done(self, tp: TopicPartition, offset: int) -> None:
        self.pending[tp].discard(offset)

    def to_commit(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        positions = {}
        for tp, highest in self.highest.items():
            if tp not in assigned:
                continue
            position = min(self.pending[tp]) if self.pending[tp] else highest + 1
            if self.committed.get(tp) != position:
                positions[tp] = position
        return positions


class RequestsTakenOn:
    """Shipments and RMAs taken on, each with its work's outcome once known (memory only:
    after a restart, unfinished ones are redone)."""

    def __init__(self) -> None:
        self._handled: OrderedDict[uuid.UUID, asyncio.Future[bool]] = OrderedDict()
        self.duplicates: list[uuid.UUID] = []  # requested again, each time

    def once(self, request_id: uuid.UUID, work: Callable[[], Awaitable[None]]) -> Awaitable[None]:
        """The work of a shipment or RMA, done once. A duplicate request waits for the
        original's work instead of doing it again: its offset, like the original's, is then
        committed only once the parcel is done (it may be the very same offset, redelivered)."""
        original = self._handled.get(request_id)
        if original is not None:
            log.info("warehouse_simulator.duplicate_request", request_id=str(request_id))
            self.duplicates.append(request_id)
            return _after(original)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._handled[request_id] = done
        if len(self._handled) > REMEMBERED_REQUESTS:
            self._handled.popitem(last=False)
        return self._doing(request_id, work(), done)

    async def _doing(
        self, request_id: uuid.UUID, work: Awaitable[None], done: asyncio.Future[bool]
    ) -> None:
        try:
            await work
        except BaseException:
            # Forgotten, so that the request read again is done again.
            self._handled.pop(request_id, None)
            done.set_result(False)
            raise
        done.set_result(True)


async def _after(original: asyncio.Future[bool]) -> None:
    # Shielded: a duplicate's waiter being cancelled must not cancel the original's outcome.
    if not await asyncio.shield(original):
        raise RuntimeError("the original request's work failed; left for a redelivery")
