"""When a consumer commits its Kafka offsets: at most once per interval, and when it goes idle.

Kafka's committed offset is only where a new owner of a partition starts reading; the consumer
positions committed with the effects are the truth (:mod:`orderflow_chassis.positions`), and a
record redelivered below them is skipped. So committing after every batch bought nothing but
a broker round trip and a write to ``__consumer_offsets`` per batch: at a paced rate, where
batches hold a few records, a tenth of a service's CPU and more of the broker's.

The offsets are committed after a batch when the interval has passed since the last commit,
and, whatever the interval, after a poll that comes back empty: an idle consumer's committed
offsets (and so the lag that KEDA, the console and alerts read) catch up at once. Only offsets
of batches already applied are ever committed: the commit runs between batches, before the
next poll hands records over. A crash or a rebalance redelivers at most an interval's worth of
applied batches, which the positions skip.
"""

from __future__ import annotations

import math
import time
from typing import Any

import structlog
from aiokafka.errors import KafkaError

log = structlog.get_logger(__name__)


class OffsetCommits:
    """One consumer's pending Kafka offset commit (``interval_s`` 0: after every batch)."""

    def __init__(self, interval_s: float, *, consumer: str) -> None:
        self._interval_s = interval_s
        self._consumer = consumer
        self._last = -math.inf
        self.pending = False

    def due(self) -> bool:
        """Whether a batch just applied should commit now (else it stays pending)."""
        return time.monotonic() - self._last >= self._interval_s

    def deferred(self) -> None:
        self.pending = True

    def committed(self) -> None:
        self._last = time.monotonic()
        self.pending = False

    async def flush(self, kafka_consumer: Any) -> None:
        """Commit what is pending; called after an empty poll, when every record handed over
        has been applied. A failed commit (a rebalance took the partitions) is logged, never
        raised: a poll that raised would stall the consumer for seconds."""
        if not self.pending:
            return
        try:
            await kafka_consumer.commit()
        except KafkaError as error:
            log.warning("consumer.offset_commit_failed", consumer=self._consumer, error=str(error))
        self.committed()
