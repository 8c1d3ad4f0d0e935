"""Composition root of the ops console: a chassis service whose use case is its read model.

It consumes every contract topic through the chassis (its own schema, role and consumer
group, inbox and positions like any service), reads every dead-letter topic, probes Kafka's
consumer groups and each service's HTTP port, and serves the pages on the runtime's HTTP
server (127.0.0.1 unless ``CONSOLE_HTTP_HOST`` says otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from aiokafka import ConsumerRecord
from orderflow_chassis.consumer import ConsumerHooks, Handler, Subscription
from orderflow_chassis.live_feeds import FeedLimits
from orderflow_chassis.migrations import Migration, load_migrations
from orderflow_chassis.runtime import RuntimeHooks
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.wiring import inject
from orderflow_contracts import topics
from orderflow_contracts.registry import ALL_EVENTS

from orderflow_ops.console.auth import SessionSigner, parse_users
from orderflow_ops.console.dead_letter_reader import read_dead_letters
from orderflow_ops.console.jobs import monitor_job, probe_job
from orderflow_ops.console.live import LiveStatus
from orderflow_ops.console.projection_handler import (
    begin_batch,
    console_repositories,
    record_event,
    write_batch,
)
from orderflow_ops.console.read_model_batch import BatchProjection
from orderflow_ops.console.retention import retention_job
from orderflow_ops.console.settings import ConsoleSettings
from orderflow_ops.console.web_common import Console, template_environment
from orderflow_ops.console.web_dead_letters import dead_letters_router
from orderflow_ops.console.web_live import KEEPALIVE_S, live_router
from orderflow_ops.console.web_login import login_router
from orderflow_ops.console.web_orders import orders_router
from orderflow_ops.console.web_overview import overview_router

SERVICE_NAME = "console"


# Its largest form (a dead-letter replay with its filters) is well under 1 KiB.
MAX_FORM_BYTES = 8 * 1024


def console_migrations() -> list[Migration]:
    return load_migrations(SERVICE_NAME, resources.files("orderflow_ops.console") / "migrations")


@dataclass(frozen=True)
class ConsoleService:
    """What the runtime needs to run the console, and the console's shared state."""

    definition: ServiceDefinition
    hooks: RuntimeHooks
    console: Console


def build_console(
    settings: ServiceSettings, console_settings: ConsoleSettings | None = None
) -> ConsoleService:
    options = console_settings if console_settings is not None else ConsoleSettings()
    console = Console(
        settings=settings,
        console_settings=options,
        status=LiveStatus(),
        users=parse_users(options.users),
        signer=SessionSigner(options.session_secret or None),
        templates=template_environment(),
    )
    options.service_urls()  # a malformed CONSOLE_SERVICES fails at start, not at first probe
    batch = BatchProjection(settings.db_schema)
    record: Handler = inject(record_event, {"batch": batch, "topic_prefix": settings.topic_prefix})

    async def after_poll(records: Sequence[ConsumerRecord]) -> None:
        batch.discard()  # what an attempt that failed gathered (a new delivery begins)

    async def after_commit(records: Sequence[ConsumerRecord]) -> None:
        console.status.changes.bump()

    async def after_offset_commit(records: Sequence[ConsumerRecord]) -> None:
        # Not on any order's path: fewer, larger batches cost less (see batch_pause_s). A
        # full batch means the console is behind: then it polls again at once.
        if len(records) < settings.consumer_max_records:
            await asyncio.sleep(options.batch_pause_s)

    hooks = RuntimeHooks(
        consumer=ConsumerHooks(
            after_poll=after_poll,
            after_commit=after_commit,
            after_offset_commit=after_offset_commit,
        )
    )
    definition = ServiceDefinition(
        name=SERVICE_NAME,
        description="Orderflow ops console: the live pipeline, orders, dead letters.",
        max_request_body_bytes=MAX_FORM_BYTES,
        migrations=console_migrations(),
        repositories=console_repositories(settings.db_schema),
        subscriptions=[
            Subscription(
                name="events",
                topics=list(topics.ALL_TOPICS),
                handlers=dict.fromkeys(ALL_EVENTS, record),
                lock_ahead=begin_batch(batch),
                write_behind=write_batch(batch),
            )
        ],
        routers=[
            login_router(console),
            overview_router(console),
            orders_router(console),
            dead_letters_router(console),
            live_router(
                console,
                FeedLimits(
                    keep_alive_s=KEEPALIVE_S,
                    max_open=options.live_max_open,
                    max_lifetime_s=options.live_max_lifetime_s,
                ),
            ),
        ],
        production_refusals=options.production_refusals() if settings.production else (),
        background_jobs=[
            read_dead_letters(
                settings.kafka_bootstrap_servers,
                settings.topic_prefix,
                settings.subscription_group("dead-letters"),
                console.status.changes.bump,
            ),
            probe_job(console),
            monitor_job(console),
            *(
                [
                    retention_job(
                        settings.db_schema,
                        options.retention_days,
                        options.retention_batch_size,
                        options.retention_interval_s,
                        console.status.changes.bump,
                    )
                ]
                if options.retention_days > 0
                else []
            ),
        ],
    )
    return ConsoleService(definition, hooks, console)
