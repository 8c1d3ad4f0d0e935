"""An idle consumer fetches twice a second and wakes at its first record; a busy one batches,
and a loaded one batches more.

The broker answers a fetch once ``fetch_min_bytes`` are ready or ``fetch_max_wait_ms`` has
passed, and aiokafka sends the next fetch as soon as an answer is consumed. With the services'
busy wait of 50 ms (larger batches under load, decision 38) a consumer with nothing to read fetched
20 times a second, every partition it owns each time: most of an idle service's CPU, and more
of the broker's, for every consumer of every instance (decision 51).

So, after ``idle_after`` polls in a row returned nothing, the consumer's next fetches wait up to
``idle_max_wait_ms`` and are answered at the first byte: an idle consumer fetches a few times a
second, and the first record that arrives is handed over at once (sooner than the busy setting
would). The first poll that returns records restores the busy setting. aiokafka reads both values
from its fetcher each time it builds a fetch; if its fetcher no longer looks as expected, the
pacing does nothing and the consumer keeps its busy setting.

A busy consumer's wait grows with its load (decision 56): the share of its time spent applying
batches, smoothed over its last polls. Up to half its time, it waits ``max_wait_ms``; from 80 %
on, ``loaded_max_wait_ms``; in between, in proportion. A loaded consumer's records queue behind
the batch in progress anyway, and a fuller batch costs less per record: on two shared cores,
200 ms instead of 50 made the pipeline about 40 % faster at full speed and halved its latency
at 20 orders/s, while at 5 orders/s (not loaded) it tripled the latency, so it waits only when
loaded. The load is wall time: a batch waiting on a lock or a slow provider counts too.

A read model's consumer may gather instead (``gather``, see
:class:`~orderflow_chassis.subscriptions.Gather`): every fetch, idle or busy, waits
``max_wait_ms`` for ``min_bytes``. Nobody waits on a read model's commits but its readers, and a
fuller batch rewrites each row it touches once for all the batch's events about it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord

_UNLOADED, _LOADED = 0.5, 0.8  # shares of time applying batches
_SMOOTHING = 0.2  # each poll's weight in the smoothed load: about the last five polls


class FetchPacing:
    """One consumer's fetch setting, switched between busy and idle (see the module)."""

    def __init__(
        self,
        *,
        min_bytes: int,
        max_wait_ms: int,
        idle_max_wait_ms: int = 500,
        idle_after: int = 1,
        loaded_max_wait_ms: int = 0,
        gather: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._min_bytes = min_bytes
        self._max_wait_ms = max_wait_ms
        self._loaded_max_wait_ms = max(loaded_max_wait_ms, max_wait_ms)
        self._idle = (1, max(idle_max_wait_ms, max_wait_ms))
        self._idle_after = idle_after
        self._gather = gather  # every fetch, idle or busy: (min_bytes, max_wait_ms)
        self._empty_polls = 0
        self._clock = clock
        self._last_poll: float | None = None
        self._worked_s = 0.0
        self.load = 0.0  # the smoothed share of time spent applying batches

    def worked(self, seconds: float) -> None:
        """A batch took this long to apply (and commit), between two polls."""
        self._worked_s += seconds

    def busy_wait_ms(self) -> int:
        """The busy fetch wait for the current load (see the module docstring)."""
        scale = min(1.0, max(0.0, (self.load - _UNLOADED) / (_LOADED - _UNLOADED)))
        return round(self._max_wait_ms + (self._loaded_max_wait_ms - self._max_wait_ms) * scale)

    def polled(self, consumer: Any, records: Sequence[ConsumerRecord]) -> None:
        now = self._clock()
        if self._last_poll is not None and now > self._last_poll:
            share = min(1.0, self._worked_s / (now - self._last_poll))
            self.load += (share - self.load) * _SMOOTHING
        self._last_poll, self._worked_s = now, 0.0
        fetcher: Any = getattr(consumer, "_fetcher", None)
        if not (hasattr(fetcher, "_fetch_min_bytes") and hasattr(fetcher, "_fetch_max_wait_ms")):
            return
        if self._gather:
            setting = (self._min_bytes, self._max_wait_ms)
        elif records:
            self._empty_polls = 0
            setting = (self._min_bytes, self.busy_wait_ms())
        else:
            self._empty_polls += 1
            if self._empty_polls < self._idle_after:
                return
            setting = self._idle
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = setting
