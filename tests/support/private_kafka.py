"""A private one-node Kafka broker for a test that must own its broker: secure it, or stop it
and start it again, without touching the broker other tests share.

Its own state folder and free ports; the jars are the checkout's (fetched by Maven once, as
`orderflow-infra up` does).
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.kafka import KafkaBroker, KafkaSettings
from orderflow_localinfra.layout import StateLayout
from orderflow_localinfra.processes import wait_for_exit
from orderflow_localinfra.secure_listener import ClientAuth
from orderflow_ops.local_ports import free_local_port


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free now, below the ephemeral range (see free_local_port)."""
    return [free_local_port() for _ in range(count)]


@contextmanager
def private_broker(
    state_dir: Path,
    *,
    timeout: float = 120,
    secure: bool = False,
    client_auth: ClientAuth = "requested",
    num_partitions: int = 1,
    offsets_topic_partitions: int = 4,
) -> Iterator[KafkaBroker]:
    """Start a one-node broker in ``state_dir`` (PLAINTEXT, plus a SASL_SSL listener when
    ``secure``); stop it afterwards. ``offsets_topic_partitions``: 4 rather than Kafka's 50,
    which a one-broker test never needs: the first consumer group and a restart after SIGKILL
    (each partition's log is recovered) are quicker."""
    shared = StateLayout.discover()
    KafkaBroker(shared).fetch_libs()  # no-op when the checkout's jars are current
    layout = StateLayout(root=state_dir, kafka_pom=shared.kafka_pom)
    layout.kafka_dir.mkdir(parents=True, exist_ok=True)
    if not layout.kafka_libs.exists():
        layout.kafka_libs.symlink_to(shared.kafka_libs, target_is_directory=True)
    broker_port, controller_port, secure_port = free_ports(3)
    settings = KafkaSettings(
        broker_port=broker_port,
        controller_port=controller_port,
        secure_port=secure_port if secure else None,
        heap="256m",
        num_partitions=num_partitions,
        secure_client_auth=client_auth,
        offsets_topic_partitions=offsets_topic_partitions,
    )
    broker = KafkaBroker(layout, settings)
    try:
        broker.start(timeout=timeout)
        yield broker
    finally:
        broker.stop()


def kill_broker(broker: KafkaBroker) -> None:
    """SIGKILL, as a lost machine: no controlled shutdown, no goodbye to any client. Its data
    stays; ``broker.start()`` brings it back on the same ports (after log recovery)."""
    pid = broker.running_pid()
    if pid is None:
        raise AssertionError("the private broker is not running")
    os.kill(pid, signal.SIGKILL)
    if not wait_for_exit(pid, 30):
        raise AssertionError(f"the private broker (pid {pid}) survived SIGKILL for 30 s")


def on_broker(infrastructure: Infrastructure, broker: KafkaBroker) -> Infrastructure:
    """``infrastructure`` (its databases) with ``broker`` as its Kafka."""
    return dataclasses.replace(
        infrastructure, kafka_bootstrap_servers=broker.settings.bootstrap_servers
    )
