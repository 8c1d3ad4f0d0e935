"""A service's Kafka side of consuming: the FastStream broker, and on it one consumer per
subscription, each set up from the service's settings (the composition root,
:mod:`orderflow_chassis.runtime`, starts the broker once the relay runs)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka.errors import InconsistentGroupProtocolError, InvalidSessionTimeoutError
from faststream.kafka import KafkaBroker
from orderflow_contracts.topics import EXTERNAL_TOPICS

from orderflow_chassis.batch_applier import BatchApplier
from orderflow_chassis.consumer import ConsumerHooks, EventConsumer, RetryPolicy, Subscription
from orderflow_chassis.kafka_access import KafkaAccessError
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.unit_of_work import DatabaseTransactions
from orderflow_chassis.waiting import wait_at_most

# The consumers join their groups within as long as a rebalance may take (the members'
# max.poll.interval.ms) and a minute more: a start never waits for ever.
_JOIN_MARGIN_S = 60.0


def kafka_broker(settings: ServiceSettings, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=settings.kafka_security.faststream_security(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        graceful_timeout=30.0,
        logger=structlog.get_logger("faststream"),
        # Its "Received"/"Processed" line per batch is noise next to the consumer's own
        # metrics, and cost a formatted log line each: debug level only.
        log_level=logging.DEBUG,
        # Topics are created (or checked) at start with the configured partitions;
        # FastStream's own creation would make them with one.
        allow_auto_create_topics=False,
    )


def register_consumers(
    broker: KafkaBroker,
    subscriptions: Sequence[Subscription],
    *,
    service: str,
    settings: ServiceSettings,
    pool: asyncpg.Pool,
    transactions: DatabaseTransactions[Any],
    hooks: ConsumerHooks,
    on_group_refused: Callable[[str], None],
) -> list[EventConsumer]:
    """One consumer group per subscription (``<consumer group>.<subscription>``), applying its
    batches in the service's database."""
    consumers = []
    for subscription in subscriptions:
        batches = BatchApplier(
            subscription,
            pool=pool,
            transactions=transactions,
            service=service,
            group_id=settings.subscription_group(subscription.name),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            kafka_security=settings.kafka_security,
            retry=RetryPolicy(
                attempts=settings.consumer_retry_attempts,
                initial_delay_s=settings.consumer_retry_initial_delay_s,
                max_delay_s=settings.consumer_retry_max_delay_s,
                handler_attempts=settings.consumer_handler_attempts,
                deadline_s=settings.consumer_max_poll_interval_ms / 2000,
            ),
            hooks=hooks,
            headers_not_trusted_on=[
                settings.topic(name) for name in subscription.topics if name in EXTERNAL_TOPICS
            ],
            # An event read on another topic than its contract's is refused (wrong_topic).
            home_topics={
                cls.event_type: settings.topic(cls.topic)
                for cls in subscription.handlers
                if cls.topic in subscription.topics
            },
        )
        consumer = EventConsumer(batches, on_group_refused=on_group_refused)
        consumer.register(
            broker,
            max_records=settings.consumer_max_records,
            batch_timeout_ms=settings.consumer_batch_timeout_ms,
            topic_prefix=settings.topic_prefix,
            session_timeout_ms=settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
            max_poll_interval_ms=settings.consumer_max_poll_interval_ms,
            fetch_min_bytes=settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            fetch_loaded_max_wait_ms=settings.consumer_fetch_loaded_max_wait_ms,
            commit_interval_ms=settings.consumer_commit_interval_ms,
        )
        consumers.append(consumer)
    return consumers


def consumers_join_within_s(settings: ServiceSettings) -> float:
    return settings.consumer_max_poll_interval_ms / 1000 + _JOIN_MARGIN_S


async def start_consumers(broker: KafkaBroker, settings: ServiceSettings, *, service: str) -> None:
    """Start ``broker``: each consumer joins its group, or the start fails saying why."""
    join_s = consumers_join_within_s(settings)
    try:
        await wait_at_most(join_s, broker.start())
    except TimeoutError:
        raise KafkaAccessError(
            f"the consumers did not join their groups within {join_s:.0f} s"
        ) from None
    except InvalidSessionTimeoutError as error:
        raise RuntimeError(
            f"the broker refused a consumer session of {settings.consumer_session_timeout_ms}"
            f" ms: set {service.upper()}_CONSUMER_SESSION_TIMEOUT_MS within the broker's "
            "group.min.session.timeout.ms and group.max.session.timeout.ms"
        ) from error
    except InconsistentGroupProtocolError as error:
        raise KafkaAccessError(group_refused(service)) from error


def group_refused(service: str) -> str:
    """Why an instance's consumer cannot join its group (decision 75)."""
    return (
        "Kafka refused this instance's join of one of its consumer groups: no partition "
        "assignor in common with the group's running members, most likely instances of a "
        "version before the range assignor; stop every instance of "
        f"{service}, then start this version (docs/decisions.md, decision 75)"
    )
