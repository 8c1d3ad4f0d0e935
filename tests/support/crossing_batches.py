"""Two consumers of one service apply batches whose records touch the same rows in crossing
orders (A: row 1 then row 2; B: row 2 then row 1), each in its own transaction, at once.

Both consumers are the service's own (its subscription, handlers, ``lock_ahead`` and units of
work, on its migrated schema), fed records directly instead of by Kafka polls, so the crossing
is certain rather than a matter of timing. Each pauses after the first record of its batch until
the other has applied its own first record too, or a few seconds passed: when each batch takes
its rows as its records come up, both then hold one row and want the other's (PostgreSQL
detects the deadlock and aborts one batch); when every lock is taken up front, the second batch
queues at its start, the first goes on after the pause, and both commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import ConsumerRecord
from orderflow_chassis.batch_applier import BatchApplier
from orderflow_chassis.consumer import Handler
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import service_transactions
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.envelope import Envelope

PAUSE_S = 3.0
"""How long a batch waits for the other to reach the crossing (a rendezvous, not a timing)."""


@dataclass
class Rendezvous:
    """Held after the handler of each ``pause_after`` event, until both arrived (or PAUSE_S)."""

    pause_after: set[uuid.UUID]
    arrived: int = 0
    both: asyncio.Event = field(default_factory=asyncio.Event)

    def wrap(self, handler: Handler) -> Handler:
        async def paced(event: Any, uow: Any) -> None:
            await handler(event, uow)
            if uow.cause is not None and uow.cause.event_id in self.pause_after:
                self.arrived += 1
                if self.arrived >= 2:
                    self.both.set()
                # On a timeout the other batch is queued behind this one: go on and commit.
                with contextlib.suppress(TimeoutError):
                    await wait_at_most(PAUSE_S, self.both.wait())

        return paced


def consumer_record(topic: str, partition: int, offset: int, envelope: Envelope) -> ConsumerRecord:
    value = envelope.to_bytes()
    key = envelope.aggregate_id.encode()
    headers = [("event_type", envelope.event_type.encode())]
    return ConsumerRecord(
        topic, partition, offset, 0, 0, key, value, None, len(key), len(value), headers
    )


def records(topic: str, partition: int, envelopes: Sequence[Envelope]) -> list[ConsumerRecord]:
    return [consumer_record(topic, partition, i, e) for i, e in enumerate(envelopes)]


async def apply_crossing(
    runtime: ServiceRuntime,
    batch_a: Sequence[ConsumerRecord],
    batch_b: Sequence[ConsumerRecord],
    *,
    subscription: str | None = None,
) -> list[BaseException | None]:
    """Apply both batches at once, each by its own consumer of ``subscription`` (by name;
    the service's first by default), one group, as two instances of the service would be;
    returns what each raised (None: it committed)."""
    first_ids = {Envelope.from_bytes(b[0].value or b"").event_id for b in (batch_a, batch_b)}
    rendezvous = Rendezvous(first_ids)
    chosen = next(
        s
        for s in runtime.definition.subscriptions
        if subscription is None or s.name == subscription
    )
    paced = replace(
        chosen, handlers={kind: rendezvous.wrap(h) for kind, h in chosen.handlers.items()}
    )
    transactions = service_transactions(runtime.definition, runtime.settings, runtime.pool)
    group = f"crossing-{uuid.uuid4().hex[:8]}"

    def instance() -> BatchApplier:
        return BatchApplier(
            paced,
            pool=runtime.pool,
            transactions=transactions,
            service=runtime.definition.name,
            group_id=group,
            bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
        )

    outcomes = await asyncio.gather(
        instance().apply(batch_a), instance().apply(batch_b), return_exceptions=True
    )
    return [o if isinstance(o, BaseException) else None for o in outcomes]
