"""A tiny service built on the chassis, for testing delivery guarantees with real processes.

It applies ``CartItemAdded`` events from an input topic by inserting one ``effects`` row each,
and can fill its outbox for the relay to publish. Environment switches make it SIGKILL itself
at the two worst moments the delivery rules must survive:

* ``PROBE_CRASH_AT=<step>``: at a step of the consumer's first batch (``CRASH_POINTS``:
  after the poll, before the database commit, after it, after the Kafka offset commit);
  ``PROBE_CRASH_AFTER_DB_COMMIT=1`` is ``PROBE_CRASH_AT=after_commit``.
* ``PROBE_CRASH_AFTER_PUBLISH=1``: after the relay published a batch, before it stamped the
  rows sent.

Run: ``python -m tests.support.probe_service --schema probe_a --in-topic T [--group G]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from orderflow_chassis.consumer import Subscription
from orderflow_chassis.database import Connection
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.runtime import RuntimeHooks, ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.structured_logging import configure_logging
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import CartItemAdded

MIGRATIONS = Path(__file__).parent / "probe_migrations"


@dataclass(frozen=True)
class ProbeStore:
    """The probe's one repository. Tests reach its raw connection to inject faults (a
    statement timeout, say) inside the handler's transaction."""

    connection: Connection
    schema: str

    async def record_effect(self, event_id: UUID, cart_id: str, sku: str) -> None:
        await self.connection.execute(
            f"INSERT INTO {self.schema}.effects (event_id, cart_id, sku) VALUES ($1, $2, $3)",
            event_id,
            cart_id,
            sku,
        )


ProbeUnit = UnitOfWork[ProbeStore]


async def record_effect(event: CartItemAdded, uow: ProbeUnit) -> None:
    assert uow.cause is not None
    await uow.repos.record_effect(uow.cause.event_id, event.cart_id, event.sku)


def probe_definition(schema: str, *, in_topics: Sequence[str], group: str) -> ServiceDefinition:
    subscriptions = (
        [Subscription(name=group, topics=list(in_topics), handlers={CartItemAdded: record_effect})]
        if in_topics
        else []
    )
    return ServiceDefinition(
        name=schema,
        migrations=load_migrations("probe", MIGRATIONS),
        repositories=lambda connection: ProbeStore(connection, schema),
        subscriptions=subscriptions,
        description="delivery-guarantee probe",
    )


def probe_settings(schema: str, *, database_url: str, kafka: str, **extra: Any) -> ServiceSettings:
    return ServiceSettings(
        service_name=schema,
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        consumer_max_records=extra.pop("consumer_max_records", 50),
        relay_batch_size=extra.pop("relay_batch_size", 50),
        **extra,
    )


CRASH_POINTS = ("after_poll", "before_commit", "after_commit", "after_offset_commit")
"""Steps of a consumer batch ``PROBE_CRASH_AT`` may name: the probe SIGKILLs itself there."""


def _crash_hooks() -> RuntimeHooks:
    hooks = RuntimeHooks()

    async def die(*_: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    crash_at = os.environ.get("PROBE_CRASH_AT")
    if os.environ.get("PROBE_CRASH_AFTER_DB_COMMIT") == "1":
        crash_at = "after_commit"
    if crash_at is not None:
        if crash_at not in CRASH_POINTS:
            raise SystemExit(f"PROBE_CRASH_AT={crash_at!r}: not one of {CRASH_POINTS}")
        setattr(hooks.consumer, crash_at, die)
    if os.environ.get("PROBE_CRASH_AFTER_PUBLISH") == "1":
        hooks.relay_after_publish = die
    return hooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--in-topic", action="append", default=[])
    parser.add_argument("--group", default="main")
    args = parser.parse_args()
    configure_logging(args.schema, level=os.environ.get("LOG_LEVEL", "INFO"))
    settings = probe_settings(
        args.schema,
        database_url=os.environ["PROBE_DATABASE_URL"],
        kafka=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
    )
    definition = probe_definition(args.schema, in_topics=args.in_topic, group=args.group)
    runtime = ServiceRuntime(definition, settings, hooks=_crash_hooks())
    asyncio.run(runtime.run_until_stopped())
    if runtime.failure is not None:  # stopped on its own: exit 1, as the services do
        raise SystemExit(f"probe {args.schema}: stopped: {runtime.failure}")


if __name__ == "__main__":
    main()
