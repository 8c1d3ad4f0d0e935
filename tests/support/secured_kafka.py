"""A private Kafka broker with a SASL_SSL listener, for tests of secured clients.

Its own state folder and free ports, so it never touches the broker other tests share; the
jars are the checkout's (fetched by Maven once, as `orderflow-infra up` does).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_localinfra.kafka import KafkaBroker, KafkaSettings
from orderflow_localinfra.layout import StateLayout
from orderflow_localinfra.secure_listener import ClientAuth, SecureListener


@dataclass(frozen=True)
class SecuredBroker:
    broker: KafkaBroker
    listener: SecureListener

    @property
    def bootstrap_servers(self) -> str:
        """The SASL_SSL listener's address."""
        return f"{self.broker.settings.host}:{self.listener.port}"

    @property
    def client_environment(self) -> dict[str, str]:
        return self.listener.client_environment(self.broker.settings.host)

    def security(self, **overrides: object) -> KafkaSecurity:
        """Client settings for the listener (SCRAM-SHA-512, the local CA, and the client
        certificate when the listener requires one), with overrides."""
        certificates = self.listener.certificates
        values: dict[str, object] = {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": self.listener.username,
            "sasl_password": self.listener.password,
            "ssl_cafile": certificates.ca_certificate,
        }
        if self.listener.requires_client_certificate:
            values["ssl_certfile"] = certificates.client_certificate
            values["ssl_keyfile"] = certificates.client_key
        values.update(overrides)
        return KafkaSecurity.model_validate(values)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextmanager
def secured_broker(
    state_dir: Path, *, timeout: float = 120, client_auth: ClientAuth = "requested"
) -> Iterator[SecuredBroker]:
    """Start a one-node broker (PLAINTEXT + SASL_SSL) in ``state_dir``; stop it afterwards.

    ``client_auth="required"`` makes the SASL_SSL listener refuse clients without a
    certificate signed by its CA (mutual TLS); "requested" accepts SCRAM alone."""
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
        secure_port=secure_port,
        heap="256m",
        num_partitions=1,
        secure_client_auth=client_auth,
    )
    broker = KafkaBroker(layout, settings)
    try:
        broker.start(timeout=timeout)
        listener = broker.secure_listener
        assert listener is not None
        yield SecuredBroker(broker, listener)
    finally:
        broker.stop()
