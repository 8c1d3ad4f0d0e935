"""A private, plaintext Kafka broker a test may stop and start: its own state folder and free
ports, so the broker every other test (and engineer) shares is never touched. The jars are the
checkout's (fetched by Maven once, as `orderflow-infra up` does)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.kafka import KafkaBroker, KafkaSettings
from orderflow_localinfra.layout import StateLayout

from tests.support.secured_kafka import free_ports


@contextmanager
def private_broker(state_dir: Path, *, timeout: float = 120) -> Iterator[KafkaBroker]:
    """A one-node broker in ``state_dir``, started; stopped afterwards. ``stop()`` and
    ``start()`` it in between to take it away and bring it back (same ports, same data)."""
    shared = StateLayout.discover()
    KafkaBroker(shared).fetch_libs()  # no-op when the checkout's jars are current
    layout = StateLayout(root=state_dir, kafka_pom=shared.kafka_pom)
    layout.kafka_dir.mkdir(parents=True, exist_ok=True)
    if not layout.kafka_libs.exists():
        layout.kafka_libs.symlink_to(shared.kafka_libs, target_is_directory=True)
    broker_port, controller_port = free_ports(2)
    settings = KafkaSettings(
        broker_port=broker_port, controller_port=controller_port, heap="256m", num_partitions=1
    )
    broker = KafkaBroker(layout, settings)
    try:
        broker.start(timeout=timeout)
        yield broker
    finally:
        broker.stop()


def on_broker(infrastructure: Infrastructure, broker: KafkaBroker) -> Infrastructure:
    """``infrastructure`` (its databases) with ``broker`` as its Kafka."""
    return dataclasses.replace(
        infrastructure, kafka_bootstrap_servers=broker.settings.bootstrap_servers
    )
