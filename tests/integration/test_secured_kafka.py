"""A service end to end over SASL_SSL (SCRAM, TLS with a private CA), and the clear start-up
failures of a wrong password and an untrusted certificate.

The module starts its own broker (PLAINTEXT for itself, SASL_SSL for the clients under test)
in a temporary folder on free ports, so the broker other tests share is never touched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterator

import pytest
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.domain.checkout import order_id_for
from orderflow_cart.settings import CartSettings
from orderflow_chassis.kafka_access import KafkaAccessError, verify_kafka_access
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_contracts import topics
from orderflow_contracts.events import CartCheckedOut, OrderPlaced
from orderflow_localinfra.certificates import CertificateFiles, ensure_certificates
from orderflow_localinfra.discovery import Infrastructure

from services.cart.tests.integration.storefront import (
    Storefront,
    add,
    checkout,
    new_cart_id,
    wait_for_envelopes,
)
from tests.support.secured_kafka import SecuredBroker, secured_broker
from tests.support.service_harness import (
    run_service_command,
    running_service,
    service_settings,
    unique_prefix,
)

pytestmark = pytest.mark.integration

# Generous: a guard against a hang on a busy machine, not a measurement (figures are printed).
START_GUARD_S = 60.0


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    # Its start takes 15 s on a quiet 2-core machine; a loaded one may need several times that.
    with secured_broker(tmp_path_factory.mktemp("secured-kafka"), timeout=240) as broker:
        yield broker


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """Certificates of a CA the broker has never heard of."""
    return ensure_certificates(tmp_path_factory.mktemp("other-ca"), ca_name="Some other CA")


@pytest.fixture
def secured_environment(secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The KAFKA_* variables of the SASL_SSL listener, set for this test only: the helpers that
    publish and read (like every tool) take their security from the environment."""
    for name, value in secured.client_environment.items():
        monkeypatch.setenv(name, value)
    return secured.client_environment


async def test_the_cart_service_checks_out_over_sasl_ssl(
    infrastructure: Infrastructure, secured: SecuredBroker, secured_environment: dict[str, str]
) -> None:
    over_tls = dataclasses.replace(
        infrastructure, kafka_bootstrap_servers=secured.bootstrap_servers
    )
    prefix = unique_prefix("secured")
    settings = service_settings(over_tls, "cart", topic_prefix=prefix)
    assert settings.kafka_security.security_protocol == "SASL_SSL"
    definition = build_definition(settings, cart_settings=CartSettings())
    storefront = Storefront(over_tls, prefix)
    cart_id = new_cart_id("secured")

    async with running_service(definition, settings) as runtime:
        ready, checks = await runtime.readiness()  # FastStream's ping over SASL_SSL included
        await storefront.send(add(cart_id, "MB-SPIKY-8CM", 2), checkout(cart_id))
        [checked_out] = await wait_for_envelopes(over_tls, prefix, topics.CARTS, cart_id, count=1)
        order_id = str(order_id_for(cart_id))
        [placed] = await wait_for_envelopes(over_tls, prefix, topics.ORDERS, order_id, count=1)

    assert ready, checks
    assert checks["kafka"] == "ok"
    assert isinstance(checked_out.parse_event(), CartCheckedOut)
    order = placed.parse_event()
    assert isinstance(order, OrderPlaced)
    assert order.cart_id == cart_id
    assert [(line.sku, line.quantity) for line in order.lines] == [("MB-SPIKY-8CM", 2)]


async def failed_start(
    infrastructure: Infrastructure, secured: SecuredBroker, security: KafkaSecurity
) -> KafkaAccessError:
    """Start the cart service with ``security``; return the error it stopped with."""
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
            await asyncio.wait_for(runtime.start(), timeout=START_GUARD_S)
    finally:
        await runtime.stop()
    print(f"refused after {time.monotonic() - began:.2f} s: {refused.value}")
    return refused.value


async def test_a_wrong_password_stops_the_start_naming_the_failure(
    infrastructure: Infrastructure, secured: SecuredBroker
) -> None:
    wrong = "not-the-password-0451"
    error = await failed_start(infrastructure, secured, secured.security(sasl_password=wrong))

    message = str(error)
    assert "authentication failed" in message
    assert secured.bootstrap_servers in message
    assert "SCRAM-SHA-512" in message
    assert "KAFKA_SASL_PASSWORD" in message
    assert wrong not in message


async def test_an_untrusted_certificate_stops_the_start_naming_the_failure(
    infrastructure: Infrastructure, secured: SecuredBroker, stranger: CertificateFiles
) -> None:
    error = await failed_start(
        infrastructure, secured, secured.security(ssl_cafile=stranger.ca_certificate)
    )

    message = str(error)
    assert "certificate verify failed" in message
    assert secured.bootstrap_servers in message
    assert f"KAFKA_SSL_CAFILE={stranger.ca_certificate}" in message


async def test_a_plaintext_client_at_the_tls_listener_is_refused_not_left_waiting(
    infrastructure: Infrastructure, secured: SecuredBroker
) -> None:
    error = await failed_start(infrastructure, secured, KafkaSecurity.model_construct())

    assert "no Kafka bootstrap server answered (PLAINTEXT)" in str(error)
    assert secured.bootstrap_servers in str(error)


async def test_a_client_certificate_signed_by_the_ca_is_accepted(secured: SecuredBroker) -> None:
    certificates = secured.listener.certificates
    mutual = secured.security(
        ssl_certfile=certificates.client_certificate, ssl_keyfile=certificates.client_key
    )

    await asyncio.wait_for(
        verify_kafka_access(secured.bootstrap_servers, mutual), timeout=START_GUARD_S
    )


async def test_a_client_certificate_the_broker_does_not_trust_is_refused(
    secured: SecuredBroker, stranger: CertificateFiles
) -> None:
    mutual = secured.security(
        ssl_certfile=stranger.client_certificate, ssl_keyfile=stranger.client_key
    )

    with pytest.raises(KafkaAccessError) as refused:
        await asyncio.wait_for(
            verify_kafka_access(secured.bootstrap_servers, mutual), timeout=START_GUARD_S
        )

    assert f"KAFKA_SSL_CERTFILE={stranger.client_certificate}" in str(refused.value)


def test_the_service_command_exits_with_the_reason_on_a_wrong_password(
    infrastructure: Infrastructure, secured: SecuredBroker
) -> None:
    environment = {
        **os.environ,
        **secured.client_environment,
        "KAFKA_SASL_PASSWORD": "wrong-password",
        "CART_DATABASE_URL": infrastructure.service_database_urls["cart"],
    }
    result = run_service_command("cart", environment, timeout_s=START_GUARD_S * 2)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "orderflow-cart: cannot start: Kafka at" in result.stderr
    assert "authentication failed for user 'orderflow' with SCRAM-SHA-512" in result.stderr
    assert "Traceback" not in result.stderr
