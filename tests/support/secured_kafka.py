"""A private Kafka broker with a SASL_SSL listener, for tests of secured clients.

Its own state folder and free ports (tests/support/private_kafka.py), so it never touches the
broker other tests share.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.domain.checkout import order_id_for
from orderflow_cart.settings import CartSettings
from orderflow_chassis.kafka_access import KafkaAccessError
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.kafka import KafkaBroker
from orderflow_localinfra.secure_listener import ClientAuth, SecureListener

from services.cart.tests.integration.storefront import (
    Storefront,
    add,
    checkout,
    new_cart_id,
    wait_for_envelopes,
)
from tests.support.private_kafka import private_broker
from tests.support.service_harness import running_service, service_settings, unique_prefix

# Generous: a guard against a hang on a busy machine, not a measurement (figures are printed).
START_GUARD_S = 60.0


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


@dataclass(frozen=True)
class SecuredCheckout:
    """What the cart service did for one checkout over the secured listener."""

    security: KafkaSecurity  # what the service ran with
    ready: bool
    checks: dict[str, str]
    checked_out: Envelope
    placed: Envelope


async def check_out_over(
    infrastructure: Infrastructure, secured: SecuredBroker, label: str, quantity: int
) -> SecuredCheckout:
    """Run the cart service against ``secured``'s listener (security from the environment,
    which the caller set) and check one cart out through it."""
    over_tls = dataclasses.replace(
        infrastructure, kafka_bootstrap_servers=secured.bootstrap_servers
    )
    prefix = unique_prefix(label)
    settings = service_settings(over_tls, "cart", topic_prefix=prefix)
    storefront = Storefront(over_tls, prefix)
    cart_id = new_cart_id(label)
    async with running_service(
        build_definition(settings, cart_settings=CartSettings()), settings
    ) as runtime:
        ready, checks = await runtime.readiness()  # FastStream's ping over SASL_SSL included
        await storefront.send(add(cart_id, "MB-SPIKY-8CM", quantity), checkout(cart_id))
        [checked_out] = await wait_for_envelopes(over_tls, prefix, topics.CARTS, cart_id, count=1)
        order_id = str(order_id_for(cart_id))
        [placed] = await wait_for_envelopes(over_tls, prefix, topics.ORDERS, order_id, count=1)
    return SecuredCheckout(settings.kafka_security, ready, checks, checked_out, placed)


async def refused_start(
    infrastructure: Infrastructure, secured: SecuredBroker, security: KafkaSecurity
) -> KafkaAccessError:
    """Start the cart service on ``secured``'s listener with ``security``; return the error it
    stopped with (it must stop within START_GUARD_S)."""
    settings = service_settings(
        infrastructure,
        "cart",
        topic_prefix=unique_prefix("refused"),
        kafka_bootstrap_servers=secured.bootstrap_servers,
        kafka_security=security,
    )
    runtime = ServiceRuntime(build_definition(settings, cart_settings=CartSettings()), settings)
    began = time.monotonic()
    try:
        with pytest.raises(KafkaAccessError) as refused:
            await wait_at_most(START_GUARD_S, runtime.start())
    finally:
        await runtime.stop()
    print(f"refused after {time.monotonic() - began:.2f} s: {refused.value}")
    return refused.value
