"""A service end to end over SASL_SSL (SCRAM, TLS with a private CA), and the clear start-up
failures of a wrong password and an untrusted certificate.

The module starts its own broker (PLAINTEXT for itself, SASL_SSL for the clients under test)
in a temporary folder on free ports, so the broker other tests share is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from orderflow_chassis.kafka_access import KafkaAccessError, verify_kafka_access
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.events import CartCheckedOut, OrderPlaced
from orderflow_localinfra.certificates import CertificateFiles, ensure_certificates
from orderflow_localinfra.discovery import Infrastructure

from tests.support.secured_kafka import (
    START_GUARD_S,
    SecuredBroker,
    check_out_over,
    refused_start,
    secured_broker,
)
from tests.support.service_harness import (
    run_service_command,
)

pytestmark = pytest.mark.integration


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
    run = await check_out_over(infrastructure, secured, "secured", quantity=2)

    assert run.security.security_protocol == "SASL_SSL"
    assert run.ready, run.checks
    assert run.checks["kafka"] == "ok"
    assert isinstance(run.checked_out.parse_event(), CartCheckedOut)
    order = run.placed.parse_event()
    assert isinstance(order, OrderPlaced)
    assert order.cart_id == run.checked_out.aggregate_id
    assert [(line.sku, line.quantity) for line in order.lines] == [("MB-SPIKY-8CM", 2)]


async def test_a_wrong_password_stops_the_start_naming_the_failure(
    infrastructure: Infrastructure, secured: SecuredBroker
) -> None:
    wrong = "not-the-password-0451"
    error = await refused_start(infrastructure, secured, secured.security(sasl_password=wrong))

    message = str(error)
    assert "authentication failed" in message
    assert secured.bootstrap_servers in message
    assert "SCRAM-SHA-512" in message
    assert "KAFKA_SASL_PASSWORD" in message
    assert wrong not in message


async def test_an_untrusted_certificate_stops_the_start_naming_the_failure(
    infrastructure: Infrastructure, secured: SecuredBroker, stranger: CertificateFiles
) -> None:
    error = await refused_start(
        infrastructure, secured, secured.security(ssl_cafile=stranger.ca_certificate)
    )

    message = str(error)
    assert "certificate verify failed" in message
    assert secured.bootstrap_servers in message
    assert f"KAFKA_SSL_CAFILE={stranger.ca_certificate}" in message


async def test_a_plaintext_client_at_the_tls_listener_is_refused_not_left_waiting(
    infrastructure: Infrastructure, secured: SecuredBroker
) -> None:
    error = await refused_start(infrastructure, secured, KafkaSecurity.model_construct())

    assert "no Kafka bootstrap server answered (PLAINTEXT)" in str(error)
    assert secured.bootstrap_servers in str(error)


async def test_a_client_certificate_signed_by_the_ca_is_accepted(secured: SecuredBroker) -> None:
    certificates = secured.listener.certificates
    mutual = secured.security(
        ssl_certfile=certificates.client_certificate, ssl_keyfile=certificates.client_key
    )

    await wait_at_most(START_GUARD_S, verify_kafka_access(secured.bootstrap_servers, mutual))


async def test_a_client_certificate_the_broker_does_not_trust_is_refused(
    secured: SecuredBroker, stranger: CertificateFiles
) -> None:
    mutual = secured.security(
        ssl_certfile=stranger.client_certificate, ssl_keyfile=stranger.client_key
    )

    with pytest.raises(KafkaAccessError) as refused:
        await wait_at_most(START_GUARD_S, verify_kafka_access(secured.bootstrap_servers, mutual))

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
