"""An idle consumer fetches twice a second and wakes at its first record; a busy one batches.

The broker answers a fetch once ``fetch_min_bytes`` are ready or ``fetch_max_wait_ms`` has
passed, and aiokafka sends the next fetch as soon as an answer is consumed. With the services'
64 KiB / 50 ms (larger batches under load, decision 38) a consumer with nothing to read fetched
20 times a second, every partition it owns each time: most of an idle service's CPU, and more
of the broker's, for every consumer of every instance (decision 51).

So, after ``idle_after`` polls in a row returned nothing, the consumer's next fetches wait up to
``idle_max_wait_ms`` and are answered at the first byte: an idle consumer fetches a few times a
second, and the first record that arrives is handed over at once (sooner than the busy setting
would). The first poll that returns records restores the busy setting. aiokafka reads both values
from its fetcher each time it builds a fetch; if its fetcher no longer looks as expected, the
pacing does nothing and the consumer keeps its busy setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord


class FetchPacing:
    """One consumer's fetch setting, switched between busy and idle (see the module)."""

    def __init__(
        self,
        *,
        min_bytes: int,
        max_wait_ms: int,
        idle_max_wait_ms: int = 500,
        idle_after: int = 1,
    ) -> None:
        self._busy = (min_bytes, max_wait_ms)
        self._idle = (1, max(idle_max_wait_ms, max_wait_ms))
        self._idle_after = idle_after
        self._empty_polls = 0

    def polled(self, consumer: Any, records: Sequence[ConsumerRecord]) -> None:
        fetcher: Any = getattr(consumer, "_fetcher", None)
        if not (hasattr(fetcher, "_fetch_min_bytes") and hasattr(fetcher, "_fetch_max_wait_ms")):
            return
        if records:
            self._empty_polls = 0
            setting = self._busy
        else:
            self._empty_polls += 1
            if self._empty_polls < self._idle_after:
                return
            setting = self._idle
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = setting
