"""The order facts the console wrote last, kept between batches (see :class:`WrittenFacts`)."""

from __future__ import annotations

import itertools
import uuid

from orderflow_ops.invariants import OrderFacts


class WrittenFacts:
    """The facts the console last wrote for each recent order, with what identifies the row
    version holding them: the id of the flush that wrote it (``orders.written_by``, random,
    never issued twice) and its ``xmin`` (the writing transaction, which changes with any
    write, whoever makes it). An order's next batch folds into the kept facts when its row
    still shows both, instead of reading and decoding its facts again: decoding them was 6 % of
    the console's time under load. Any other write (another console instance, the retention,
    a fill, an operator's statement) or a flush whose transaction did not commit leaves
    something else, and the facts are read as before; the flush id also covers the ``xmin`` a
    failover to a replica that lost the last transactions would issue again. Taking an entry
    removes it, so facts a failed attempt folded are never kept."""

    SIZE = 4096  # orders: about a minute of a busy pipeline, a few MB

    def __init__(self) -> None:
        self._entries: dict[str, tuple[uuid.UUID, str, OrderFacts]] = {}

    def take(self, order_ids: list[str]) -> dict[str, tuple[uuid.UUID, str, OrderFacts]]:
        return {
            order_id: entry
            for order_id in order_ids
            if (entry := self._entries.pop(order_id, None)) is not None
        }

    def keep(self, written: dict[str, tuple[uuid.UUID, str, OrderFacts]]) -> None:
        self._entries.update(written)
        excess = len(self._entries) - self.SIZE
        for oldest in list(itertools.islice(self._entries, max(excess, 0))):
            del self._entries[oldest]  # the least recently written first
