"""A broker listener that REQUIRES client certificates (``ssl.client.auth=required``): a
service presenting one signed by the broker's CA works end to end; one presenting none stops
at start with a message saying to set the certificate, within seconds, never a hang.

The module starts its own broker (PLAINTEXT for itself, SASL_SSL with mutual TLS for the
clients under test) in a temporary folder on free ports; the shared broker is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from orderflow_contracts.events import OrderPlaced
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

CERTIFICATE_VARIABLES = ("KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE")


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    with secured_broker(
        tmp_path_factory.mktemp("mutual-tls-kafka"), timeout=240, client_auth="required"
    ) as broker:
        yield broker


def test_the_listener_requires_a_client_certificate(mutual: SecuredBroker) -> None:
    """What the other tests rely on: the broker really runs with the setting, and the
    client settings the listener hands out carry the generated certificate."""
    properties = mutual.broker.layout.kafka_server_properties.read_text()

    assert "listener.name.sasl_ssl.ssl.client.auth=required" in properties
    environment = mutual.client_environment
    assert environment["KAFKA_SSL_CERTFILE"] == str(mutual.listener.certificates.client_certificate)
    assert environment["KAFKA_SSL_KEYFILE"] == str(mutual.listener.certificates.client_key)


async def test_a_service_with_a_ca_signed_certificate_checks_out_end_to_end(
    infrastructure: Infrastructure, mutual: SecuredBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The helpers that publish and read (like every tool) take their security from here.
    for name, value in mutual.client_environment.items():
        monkeypatch.setenv(name, value)
    run = await check_out_over(infrastructure, mutual, "mtls", quantity=1)

    assert run.security.ssl_certfile == mutual.listener.certificates.client_certificate
    assert run.ready, run.checks
    assert run.checks["kafka"] == "ok"
    order = run.placed.parse_event()
    assert isinstance(order, OrderPlaced)
    assert order.cart_id == run.checked_out.aggregate_id


async def test_a_service_without_a_certificate_stops_at_start_saying_to_set_one(
    infrastructure: Infrastructure, mutual: SecuredBroker
) -> None:
    error = await refused_start(
        infrastructure, mutual, mutual.security(ssl_certfile=None, ssl_keyfile=None)
    )

    message = str(error)
    assert mutual.bootstrap_servers in message
    assert "requires client certificates, ssl.client.auth=required" in message
    assert "set KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE" in message
    assert mutual.listener.password not in message


def test_the_service_command_without_a_certificate_exits_with_the_reason(
    infrastructure: Infrastructure, mutual: SecuredBroker
) -> None:
    environment = {
        name: value for name, value in os.environ.items() if name not in CERTIFICATE_VARIABLES
    }
    environment.update(mutual.client_environment)
    for name in CERTIFICATE_VARIABLES:
        del environment[name]
    environment["CART_DATABASE_URL"] = infrastructure.service_database_urls["cart"]
    result = run_service_command("cart", environment, timeout_s=START_GUARD_S * 2)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "orderflow-cart: cannot start: no Kafka bootstrap server answered" in result.stderr
    assert "set KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE" in result.stderr
    assert "Traceback" not in result.stderr
