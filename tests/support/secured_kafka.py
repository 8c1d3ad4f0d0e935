"""A private Kafka broker with a SASL_SSL listener, for tests of secured clients.

Its own state folder and free ports (tests/support/private_kafka.py), so it never touches the
broker other tests share.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_localinfra.kafka import KafkaBroker
from orderflow_localinfra.secure_listener import ClientAuth, SecureListener

from tests.support.private_kafka import private_broker


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


@contextmanager
def secured_broker(
    state_dir: Path, *, timeout: float = 120, client_auth: ClientAuth = "requested"
) -> Iterator[SecuredBroker]:
    """Start a one-node broker (PLAINTEXT + SASL_SSL) in ``state_dir``; stop it afterwards.

    ``client_auth="required"`` makes the SASL_SSL listener refuse clients without a
    certificate signed by its CA (mutual TLS); "requested" accepts SCRAM alone."""
    with private_broker(state_dir, timeout=timeout, secure=True, client_auth=client_auth) as broker:
        listener = broker.secure_listener
        assert listener is not None
        yield SecuredBroker(broker, listener)
