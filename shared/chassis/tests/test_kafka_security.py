"""Kafka security settings: read from KAFKA_* variables, refused with the variable named when
missing or contradictory, and turned into the same options for aiokafka and FastStream."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.kafka.security import parse_security
from faststream.security import SASLPlaintext, SASLScram256, SASLScram512
from orderflow_chassis.kafka_security import KafkaSecurity, KafkaSettingsError
from orderflow_chassis.settings import ServiceSettings
from orderflow_localinfra.certificates import CertificateFiles, ensure_certificates

VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
    "KAFKA_SSL_KEY_PASSWORD",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return ensure_certificates(tmp_path_factory.mktemp("certificates"))


def from_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> KafkaSecurity:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return KafkaSecurity.from_environment()


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    with pytest.raises(KafkaSettingsError) as refused:
        from_environment(monkeypatch, **variables)
    return str(refused.value)


def test_nothing_set_is_plaintext_for_every_client() -> None:
    security = KafkaSecurity.from_environment()

    assert security.aiokafka_options() == {"security_protocol": "PLAINTEXT"}
    assert security.faststream_security() is None


def test_sasl_ssl_with_scram_gives_a_verifying_tls_context_and_the_credentials(
    monkeypatch: pytest.MonkeyPatch, certificates: CertificateFiles
) -> None:
    security = from_environment(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="sasl_ssl",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        KAFKA_SASL_USERNAME="cart",
        KAFKA_SASL_PASSWORD="s3cret",
        KAFKA_SSL_CAFILE=str(certificates.ca_certificate),
    )

    options = security.aiokafka_options()
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "cart",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert "s3cret" not in repr(security)
    assert "s3cret" not in security.describe()


@pytest.mark.parametrize(
    ("mechanism", "expected_class"),
    [("SCRAM-SHA-512", SASLScram512), ("SCRAM-SHA-256", SASLScram256), ("PLAIN", SASLPlaintext)],
)
def test_faststream_gets_the_same_options_as_the_aiokafka_clients(
    monkeypatch: pytest.MonkeyPatch,
    certificates: CertificateFiles,
    mechanism: str,
    expected_class: type,
) -> None:
    security = from_environment(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM=mechanism,
        KAFKA_SASL_USERNAME="cart",
        KAFKA_SASL_PASSWORD="s3cret",
        KAFKA_SSL_CAFILE=str(certificates.ca_certificate),
    )

    broker_security = security.faststream_security()
    assert type(broker_security) is expected_class
    parsed = parse_security(broker_security)
    direct = security.aiokafka_options()
    assert isinstance(parsed.pop("ssl_context"), ssl.SSLContext)
    direct.pop("ssl_context")
    assert parsed == direct


def test_tls_with_a_client_certificate_loads_the_key_pair(
    monkeypatch: pytest.MonkeyPatch, certificates: CertificateFiles
) -> None:
    security = from_environment(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_SSL_CAFILE=str(certificates.ca_certificate),
        KAFKA_SSL_CERTFILE=str(certificates.client_certificate),
        KAFKA_SSL_KEYFILE=str(certificates.client_key),
    )

    assert security.aiokafka_options()["security_protocol"] == "SSL"
    assert parse_security(security.faststream_security())["security_protocol"] == "SSL"
    assert "client certificate" in security.describe()


def test_sasl_without_username_or_password_names_both_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_SSL")

    assert "KAFKA_SASL_USERNAME is not set" in message
    assert "KAFKA_SASL_PASSWORD is not set" in message
    assert "KAFKA_SECURITY_PROTOCOL=SASL_SSL" in message


def test_a_ca_file_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(
        monkeypatch, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE="/nowhere/ca.pem"
    )

    assert message == "KAFKA_SSL_CAFILE=/nowhere/ca.pem: no such file"


def test_a_certificate_without_its_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, certificates: CertificateFiles
) -> None:
    message = refusal(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_SSL_CERTFILE=str(certificates.client_certificate),
    )

    assert "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together" in message


def test_tls_files_with_a_protocol_without_tls_are_a_contradiction(
    monkeypatch: pytest.MonkeyPatch, certificates: CertificateFiles
) -> None:
    message = refusal(monkeypatch, KAFKA_SSL_CAFILE=str(certificates.ca_certificate))

    assert "KAFKA_SSL_CAFILE set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS" in (
        message
    )


def test_an_unknown_protocol_or_mechanism_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert refusal(monkeypatch, KAFKA_SECURITY_PROTOCOL="TLS").startswith(
        "KAFKA_SECURITY_PROTOCOL='TLS': Input should be"
    )
    monkeypatch.delenv("KAFKA_SECURITY_PROTOCOL")
    assert refusal(monkeypatch, KAFKA_SASL_MECHANISM="GSSAPI").startswith(
        "KAFKA_SASL_MECHANISM='GSSAPI': Input should be"
    )


def test_an_unreadable_key_is_named_when_the_context_is_built(
    monkeypatch: pytest.MonkeyPatch, certificates: CertificateFiles, tmp_path: Path
) -> None:
    not_a_key = tmp_path / "broken.key"
    not_a_key.write_text("not a key\n")
    security = from_environment(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_SSL_CERTFILE=str(certificates.client_certificate),
        KAFKA_SSL_KEYFILE=str(not_a_key),
    )

    with pytest.raises(KafkaSettingsError, match=f"KAFKA_SSL_KEYFILE={not_a_key}"):
        security.aiokafka_options()


def test_a_service_reads_its_kafka_security_from_the_shared_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "cart")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")

    settings = ServiceSettings.for_service("cart", database_url="postgresql://x/y")

    assert settings.kafka_security.security_protocol == "SASL_PLAINTEXT"
    assert settings.kafka_security.sasl_username == "cart"


def test_a_service_with_contradictory_kafka_security_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")

    with pytest.raises(KafkaSettingsError, match="KAFKA_SASL_USERNAME is not set"):
        ServiceSettings.for_service("cart", database_url="postgresql://x/y")
