"""The composition root every service shares.

A service describes itself with a :class:`ServiceDefinition` (its migrations, subscriptions,
HTTP routes and background jobs). :class:`ServiceRuntime` builds everything else when started,
never at import time: the pool, migrations, the Kafka producer and relay, the FastStream
broker with one subscriber per subscription, and the HTTP server with health and metrics.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from orderflow_chassis import metrics, tracing
from orderflow_chassis.consumer import ConsumerHooks, EventConsumer
from orderflow_chassis.consumer_wiring import (
    group_refused,
    kafka_broker,
    register_consumers,
    start_consumers,
)
from orderflow_chassis.database import create_pool
from orderflow_chassis.errors import describe_error
from orderflow_chassis.http_protocol import HeaderDeadlineProtocol
from orderflow_chassis.inbox import Inbox
from orderflow_chassis.kafka_access import KafkaAccessError, verify_kafka_access
from orderflow_chassis.kafka_admin import topics_a_service_uses
from orderflow_chassis.migrations import migrate_when_writable
from orderflow_chassis.outbox import create_producer, start_producer
from orderflow_chassis.periodic import every
from orderflow_chassis.process_tuning import settle_garbage_collector
from orderflow_chassis.production_profile import (
    PRODUCTION_MIN_REPLICATION,
    check_production_profile,
)
from orderflow_chassis.relay import AfterPublish, OutboxRelay
from orderflow_chassis.service_definition import (
    RuntimeResources,
    ServiceDefinition,
    service_transactions,
)
from orderflow_chassis.service_http import EmbeddedServer, build_http_app
from orderflow_chassis.service_topics import ensure_service_topics
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.topic_catalog import load_topic_catalog
from orderflow_chassis.waiting import cancel_and_wait, wait_at_most

log = structlog.get_logger(__name__)

# Each readiness check answers within this, so a probe never hangs on a dead dependency.
_CHECK_TIMEOUT_S = 2.0
# Stopping never waits for ever. The relay's producer gets this long to deliver what it holds
# (with idempotence it retries for ever): the rest is unstamped in the outbox and published
# again by the next leader. The pool gets this long for connections still in use (an HTTP
# request's transaction), then is terminated: their transactions roll back.
_PRODUCER_FLUSH_AT_STOP_S = 5.0
_POOL_CLOSE_AT_STOP_S = 5.0
_TASKS_END_AT_STOP_S = 10.0
_HOOK_AT_STOP_S = 10.0
# Starting never waits for ever either: Kafka gets this long to give the relay's producer its
# id (verify_kafka_access has just reached it); the consumers' join is bounded by
# consumer_wiring.start_consumers.
_PRODUCER_START_S = 30.0


async def _close_pool(pool: asyncpg.Pool) -> None:
    in_use = pool.get_size() - pool.get_idle_size()
    try:
        await wait_at_most(_POOL_CLOSE_AT_STOP_S, pool.close())
    except TimeoutError:
        log.warning("service.pool_terminated", connections_in_use_at_stop=in_use)
        pool.terminate()  # asyncpg did already, as close() was cancelled: say it plainly


def _inbox_purge(settings: ServiceSettings) -> Callable[[asyncpg.Pool], Awaitable[None]]:
    """The chassis' own job: purge applied event ids past their retention, hourly."""
    inbox = Inbox(settings.db_schema)
    retention = timedelta(hours=settings.inbox_retention_hours)

    async def purge(pool: asyncpg.Pool) -> None:
        purged = await inbox.purge(pool, older_than=retention)
        metrics.INBOX_PURGED.labels(settings.service_name).inc(purged)

    return every(3600.0, purge, name="inbox-purge")


# How often every instance (leader or not) exports its outbox backlog and parked rows.
_OUTBOX_GAUGES_EVERY_S = 10.0


async def _count_outbox(relay: OutboxRelay) -> None:
    await relay.unsent_count()  # exports the backlog and parked gauges


def _outbox_gauges(relay: OutboxRelay) -> Awaitable[None]:
    return every(_OUTBOX_GAUGES_EVERY_S, _count_outbox, name="outbox-gauges")(relay)


@dataclass
class RuntimeHooks:
    """Observation points for tests (e.g. crash between publish and the sent stamp)."""

    consumer: ConsumerHooks = field(default_factory=ConsumerHooks)
    relay_after_publish: AfterPublish | None = None


class ServiceRuntime:
    def __init__(
        self,
        definition: ServiceDefinition,
        settings: ServiceSettings,
        *,
        hooks: RuntimeHooks | None = None,
    ) -> None:
        self.definition = definition
        self.settings = settings
        self.hooks = hooks or RuntimeHooks()
        self.consumers: list[EventConsumer] = []
        self.relay: OutboxRelay | None = None
        self.http_port: int | None = None
        self._pool: asyncpg.Pool | None = None
        self._broker: KafkaBroker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._http: EmbeddedServer | None = None
        self._stopped = asyncio.Event()  # asked for, or a task crashed
        self._stop_requested = asyncio.Event()  # asked for (a signal)
        self._stop_tracing: Callable[[], None] | None = None
        self.tasks_left_running: list[str] = []  # given up on: the process ends around them
        # Why the service stopped on its own (a task crashed, a group refused it); None when
        # it was asked to. The process then exits non-zero, for supervisors that restart
        # only on failure.
        self.failure: str | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the runtime is not started")
        return self._pool

    async def start(self) -> None:
        settings = self.settings
        name = self.definition.name
        # Before connecting to anything: a production misconfiguration fails with its list.
        catalog = load_topic_catalog(settings.kafka_topics_file)
        check_production_profile(
            settings, catalog, extra_refusals=self.definition.production_refusals
        )
        security = settings.kafka_security
        # Then, without retrying: a refused password or an untrusted certificate stays
        # wrong, and aiokafka alone would report it only as "Unable to bootstrap".
        await verify_kafka_access(settings.kafka_bootstrap_servers, security)
        log.info(
            "kafka.access_verified",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security=security.describe(),
        )
        self._stop_tracing = tracing.configure_from_environment(name)  # OTLP export, if asked
        self._pool = await create_pool(
            settings.database_url,
            schema=settings.db_schema,
            application_name=f"orderflow-{name}",
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            command_timeout_s=settings.db_command_timeout_s,
        )
        await migrate_when_writable(self._pool, settings.db_schema, self.definition.migrations)

        transactions = service_transactions(self.definition, settings, self._pool)
        outbox = transactions.outbox
        resources = RuntimeResources(settings, self._pool, outbox, transactions)

        # Before the relay starts: a missing topic (a dead-letter topic, typically) would
        # stall the relay at its first message; so it is created (development) or named.
        await ensure_service_topics(
            service=name,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            names=topics_a_service_uses(
                settings.topic_prefix,
                [
                    topic
                    for subscription in self.definition.subscriptions
                    for topic in subscription.topics
                ],
            ),
            topic_prefix=settings.topic_prefix,
            catalog=catalog,
            create_missing=settings.creates_topics,
            development_partitions=settings.kafka_topic_partitions,
            minimum_replication=PRODUCTION_MIN_REPLICATION if settings.production else 1,
            security=security,
        )

        def new_producer() -> AIOKafkaProducer:
            return create_producer(
                settings.kafka_bootstrap_servers, client_id=f"{name}-relay", security=security
            )

        producer = new_producer()
        try:
            await start_producer(producer, timeout_s=_PRODUCER_START_S)
        except TimeoutError:
            raise KafkaAccessError(
                f"Kafka did not give the relay's producer an id within {_PRODUCER_START_S:.0f} s"
            ) from None
        self.relay = OutboxRelay(
            self._pool,
            producer,
            new_producer=new_producer,
            schema=settings.db_schema,
            service=name,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
            retention=timedelta(hours=settings.outbox_retention_hours),
            after_publish=self.hooks.relay_after_publish,
            lease_s=settings.relay_lease_s,
            unready_after_s=settings.relay_unready_after_s,
            park_after_attempts=settings.relay_park_after_attempts,
        )
        self._spawn(self.relay.run(), "outbox-relay")
        self._spawn(_outbox_gauges(self.relay), "outbox-gauges")

        for step in self.definition.start_up_jobs:
            await step(transactions)

        self._broker = kafka_broker(settings, client_id=name)
        self.consumers = register_consumers(
            self._broker,
            self.definition.subscriptions,
            service=name,
            settings=settings,
            pool=self._pool,
            transactions=transactions,
            hooks=self.hooks.consumer,
            on_group_refused=self._group_refused,
        )
        await start_consumers(self._broker, settings, service=name)

        self._spawn(_inbox_purge(settings)(self._pool), "inbox-purge")
        for job in self.definition.background_jobs:
            self._spawn(job(transactions), getattr(job, "__name__", "background-job"))

        await self._start_http(resources)
        log.info(
            "service.started",
            consumers=[c.group_id for c in self.consumers],
            http_port=self.http_port,
        )

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service.task_crashed", task=name)
                self._failed(f"its task {name} crashed")  # a dead relay or job: stop

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def _start_http(self, resources: RuntimeResources) -> None:
        app = build_http_app(self, resources)
        config = uvicorn.Config(
            app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            # Past this many open connections (or requests in progress), a new one is answered
            # 503 at once: clients holding connections open cannot exhaust file descriptors.
            limit_concurrency=self.settings.http_max_connections,
            # ... and one that never finishes its headers is closed (slowloris).
            http=HeaderDeadlineProtocol,
        )
        self._http = EmbeddedServer(config)
        self._spawn(self._http.serve(), "http")
        while not self._http.started:
            if self._stopped.is_set() and not self._stop_requested.is_set():
                raise RuntimeError(self.failure or "the HTTP server failed to start")
            await asyncio.sleep(0.05)
        sockets = [s for server in self._http.servers for s in server.sockets]
        self.http_port = sockets[0].getsockname()[1] if sockets else self.settings.http_port

    async def stop(self) -> None:
        """Stop consuming (finishing the batch in hand, its offsets and those still waiting
        committed), then the relay, HTTP and the pool."""
        for consumer in self.consumers:
            await consumer.stopping()
        if self._broker is not None:
            await self._broker.stop()
        if self._http is not None:
            self._http.should_exit = True
        await self._end_tasks(self._tasks)  # then the pool and the producer close, whatever
        for close in self.definition.on_stop:
            try:
                await wait_at_most(_HOOK_AT_STOP_S, close())
            except Exception:  # stopping goes on: the pool and producer must close too
                log.exception("service.on_stop_failed", hook=getattr(close, "__name__", "?"))
        if self.relay is not None:
            await self.relay.close(flush_s=_PRODUCER_FLUSH_AT_STOP_S)
        if self._pool is not None:
            await _close_pool(self._pool)
        if self._stop_tracing is not None:
            self._stop_tracing()  # flushes the last spans
            self._stop_tracing = None
        log.info("service.stopped")

    def _group_refused(self, group_id: str) -> None:
        """A running consumer's group now has members splitting it another way: it would hold
        no partition for as long as they run, with every check green. Stop instead (a restart
        fails its start with the same message until the older instances are gone)."""
        reason = group_refused(self.definition.name)
        log.error("consumer.group_refused", consumer=group_id, reason=reason)
        self._failed(f"consumer group {group_id}: {reason}")

    def _failed(self, why: str) -> None:
        if not self._stop_requested.is_set():  # a task that fails as it is stopped is no cause
            self.failure = self.failure or why
        self._stopped.set()

    def request_stop(self) -> None:
        self._stop_requested.set()
        self._stopped.set()

    async def run_until_stopped(self) -> None:
        """Start, serve until SIGINT/SIGTERM (or a crashed task), then stop cleanly."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop)
        try:
            # A stop asked for while starting (SIGTERM while Kafka is away) ends the start.
            if await self._start_unless_stopped():
                settle_garbage_collector()
                await self._stopped.wait()
        finally:
            await self.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    async def _end_tasks(self, tasks: Collection[asyncio.Task[Any]]) -> None:
        """Cancel ``tasks`` and wait for them, within the stop's bound; those that would not
        stop are logged and left to end with the process (``tasks_left_running``)."""
        still_running = await cancel_and_wait(tasks, bound_s=_TASKS_END_AT_STOP_S)
        if still_running:
            log.error("service.tasks_would_not_stop", tasks=still_running)
            self.tasks_left_running += still_running

    async def _start_unless_stopped(self) -> bool:
        """Start; False when a stop was asked for first (the start is cancelled then, within
        the stop's bound). What the start raises is raised."""
        starting = asyncio.ensure_future(self.start())
        stop_asked = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait([starting, stop_asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_asked.cancel()
            if not starting.done():
                await self._end_tasks([starting])
        if not starting.done() or starting.cancelled():
            return False
        starting.result()  # what it raised
        return True

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, checks): each check is guarded, so a failing one is reported, never raised."""
        checks: dict[str, Any] = {}
        ready = True
        try:
            await wait_at_most(_CHECK_TIMEOUT_S, self.pool.fetchval("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:
            ready = False
            checks["database"] = f"unavailable: {describe_error(error)}"
        try:
            broker_ok = self._broker is not None and await self._broker.ping(
                timeout=_CHECK_TIMEOUT_S
            )
            checks["kafka"] = "ok" if broker_ok else "unavailable"
        except Exception as error:
            broker_ok = False
            checks["kafka"] = f"unavailable: {describe_error(error)}"
        ready = ready and broker_ok
        if self.relay is not None:
            try:
                health = await wait_at_most(_CHECK_TIMEOUT_S, self.relay.health())
                checks.update(health.as_checks())
                ready = ready and health.healthy
            except Exception as error:
                ready = False
                checks["outbox_relay"] = f"unknown: {describe_error(error)}"
        return ready, checks
