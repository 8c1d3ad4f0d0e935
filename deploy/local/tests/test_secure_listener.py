"""The local broker's optional SASL_SSL listener: certificates, configuration and settings
(no broker needed; tests/integration/test_secured_kafka.py runs one)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from orderflow_localinfra.certificates import ensure_certificates
from orderflow_localinfra.cli import app
from orderflow_localinfra.errors import InfraError, PrerequisiteMissing
from orderflow_localinfra.kafka import KafkaBroker
from orderflow_localinfra.kafka_config import KafkaSettings, render_server_properties
from orderflow_localinfra.layout import StateLayout, find_repository_root
from orderflow_localinfra.processes import run_logged
from orderflow_localinfra.secure_listener import ClientAuth, SecureListener
from typer.testing import CliRunner

runner = CliRunner()


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> SecureListener:
    secured = SecureListener(tmp_path_factory.mktemp("secure"), port=19094)
    secured.prepare()
    return secured


def prepared_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client_auth: ClientAuth = "requested"
) -> SecureListener:
    """A state folder in ``tmp_path`` whose secured listener has its files made."""
    monkeypatch.setenv("ORDERFLOW_LOCAL_INFRA_DIR", str(tmp_path))
    monkeypatch.delenv("ORDERFLOW_INFRA_SECURE_PORT", raising=False)
    monkeypatch.delenv("ORDERFLOW_INFRA_CLIENT_CERTIFICATES", raising=False)
    secured = SecureListener(tmp_path / "kafka" / "secure", port=19094, client_auth=client_auth)
    secured.prepare()
    return secured


def exports_of(stdout: str) -> dict[str, str]:
    return dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in stdout.splitlines()
    )


def openssl(*arguments: str | Path) -> str:
    result = subprocess.run(
        ["openssl", *map(str, arguments)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_server_certificate_is_signed_by_the_ca_for_the_loopback_address(
    listener: SecureListener,
) -> None:
    files = listener.certificates

    assert "OK" in openssl("verify", "-CAfile", files.ca_certificate, files.server_certificate)
    assert "OK" in openssl("verify", "-CAfile", files.ca_certificate, files.client_certificate)
    names = openssl("x509", "-in", files.server_certificate, "-noout", "-ext", "subjectAltName")
    assert "IP Address:127.0.0.1" in names
    assert "DNS:localhost" in names
    assert (files.server_key.stat().st_mode & 0o077) == 0
    assert (listener.password_file.stat().st_mode & 0o077) == 0


def test_certificates_and_password_are_made_once(listener: SecureListener) -> None:
    keystore = listener.certificates.server_keystore.read_bytes()
    password = listener.password

    listener.prepare()

    assert listener.certificates.server_keystore.read_bytes() == keystore
    assert listener.password == password


def test_the_broker_adds_a_sasl_ssl_listener_next_to_plaintext(
    listener: SecureListener, tmp_path: Path
) -> None:
    properties = parse_properties(
        render_server_properties(KafkaSettings(secure_port=19094), tmp_path / "data", listener)
    )

    assert properties["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093"
    )
    assert properties["advertised.listeners"] == properties["listeners"]
    assert "SASL_SSL:SASL_SSL" in properties["listener.security.protocol.map"].split(",")
    assert properties["inter.broker.listener.name"] == "PLAINTEXT"
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    for mechanism in ("scram-sha-256", "scram-sha-512"):
        assert (
            "ScramLoginModule required"
            in (properties[f"listener.name.sasl_ssl.{mechanism}.sasl.jaas.config"])
        )
    certificates = listener.certificates
    assert properties["listener.name.sasl_ssl.ssl.keystore.location"] == str(
        certificates.server_keystore
    )
    assert properties["listener.name.sasl_ssl.ssl.keystore.password"] == (
        certificates.keystore_password
    )
    assert properties["listener.name.sasl_ssl.ssl.truststore.location"] == str(
        certificates.ca_certificate
    )
    assert properties["listener.name.sasl_ssl.ssl.client.auth"] == "requested"


def test_required_client_certificates_reach_the_broker_and_the_client_settings(
    listener: SecureListener, tmp_path: Path
) -> None:
    settings = KafkaSettings(secure_port=19094, secure_client_auth="required")
    broker = KafkaBroker(StateLayout(root=tmp_path, kafka_pom=tmp_path / "pom.xml"), settings)
    required = broker.secure_listener
    assert required is not None
    mutual = SecureListener(listener.folder, port=19094, client_auth="required")

    properties = parse_properties(render_server_properties(settings, tmp_path / "data", mutual))

    assert required.requires_client_certificate
    assert properties["listener.name.sasl_ssl.ssl.client.auth"] == "required"
    environment = mutual.client_environment("127.0.0.1")
    assert environment["KAFKA_SSL_CERTFILE"] == str(listener.certificates.client_certificate)
    assert environment["KAFKA_SSL_KEYFILE"] == str(listener.certificates.client_key)
    assert "KAFKA_SSL_CERTFILE" not in listener.client_environment("127.0.0.1")


def test_without_the_option_the_broker_has_no_sasl_settings(tmp_path: Path) -> None:
    text = render_server_properties(KafkaSettings(), tmp_path / "data")

    assert "SASL" not in text
    assert "ssl." not in text


def test_the_user_is_created_with_the_storage_for_both_mechanisms(
    listener: SecureListener,
) -> None:
    arguments = listener.format_arguments()

    assert arguments == [
        "--add-scram",
        f"SCRAM-SHA-256=[name=orderflow,password={listener.password}]",
        "--add-scram",
        f"SCRAM-SHA-512=[name=orderflow,password={listener.password}]",
    ]


def test_a_logged_command_masks_its_secrets(tmp_path: Path) -> None:
    log = tmp_path / "command.log"

    run_logged(["true", "password=hunter2"], log, secrets=["hunter2"])

    assert "password=***" in log.read_text()
    assert "hunter2" not in log.read_text()


def test_the_option_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERFLOW_INFRA_SECURE", raising=False)
    monkeypatch.delenv("ORDERFLOW_INFRA_SECURE_PORT", raising=False)
    assert KafkaSettings.from_environment().secure_port is None

    monkeypatch.setenv("ORDERFLOW_INFRA_SECURE", "1")
    assert KafkaSettings.from_environment().secure_port == 19094
    monkeypatch.setenv("ORDERFLOW_INFRA_SECURE_PORT", "29094")
    assert KafkaSettings.from_environment().secure_port == 29094
    assert KafkaSettings.from_environment(secure=False).secure_port is None


def test_client_certificates_come_from_the_environment_and_imply_the_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORDERFLOW_INFRA_SECURE", raising=False)
    monkeypatch.delenv("ORDERFLOW_INFRA_SECURE_PORT", raising=False)
    monkeypatch.delenv("ORDERFLOW_INFRA_CLIENT_CERTIFICATES", raising=False)
    assert KafkaSettings.from_environment(secure=True).secure_client_auth == "requested"

    monkeypatch.setenv("ORDERFLOW_INFRA_CLIENT_CERTIFICATES", "true")
    settings = KafkaSettings.from_environment()

    assert settings.secure_port == 19094
    assert settings.secure_client_auth == "required"


def test_env_secure_prints_the_client_settings_of_the_listener(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secured = prepared_state(monkeypatch, tmp_path)

    result = runner.invoke(app, ["env", "--secure", "--service", "cart"])

    assert result.exit_code == 0, result.output
    exports = exports_of(result.stdout)
    assert exports["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19094"
    assert exports["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert exports["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert exports["KAFKA_SASL_USERNAME"] == "orderflow"
    assert exports["KAFKA_SASL_PASSWORD"] == secured.password
    assert exports["KAFKA_SSL_CAFILE"] == str(secured.certificates.ca_certificate)


def test_env_client_certificates_prints_the_certificate_and_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secured = prepared_state(monkeypatch, tmp_path)

    plain = runner.invoke(app, ["env", "--secure"])
    mutual = runner.invoke(app, ["env", "--client-certificates"])

    assert plain.exit_code == 0, plain.output
    assert mutual.exit_code == 0, mutual.output
    assert "KAFKA_SSL_CERTFILE" not in plain.stdout
    exports = exports_of(mutual.stdout)
    assert exports["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert exports["KAFKA_SSL_CERTFILE"] == str(secured.certificates.client_certificate)
    assert exports["KAFKA_SSL_KEYFILE"] == str(secured.certificates.client_key)


def test_env_secure_before_up_secure_says_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORDERFLOW_LOCAL_INFRA_DIR", str(tmp_path))

    result = runner.invoke(app, ["env", "--secure"])

    assert result.exit_code == 2
    assert "orderflow-infra up --secure" in result.stderr


def test_certificates_need_openssl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(PrerequisiteMissing, match="openssl"):
        ensure_certificates(tmp_path / "certificates")


def test_up_secure_does_not_restart_a_broker_running_without_the_listener(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    layout = StateLayout(
        root=tmp_path, kafka_pom=find_repository_root() / "deploy/local/kafka/pom.xml"
    )
    layout.kafka_config_dir.mkdir(parents=True)
    layout.kafka_server_properties.write_text(
        render_server_properties(KafkaSettings(), layout.kafka_data)
    )
    broker = KafkaBroker(layout, KafkaSettings(secure_port=19094))
    monkeypatch.setattr(broker, "running_pid", lambda: 4242)  # "already running"
    monkeypatch.setattr(broker, "wait_until_ready", lambda *, timeout: None)

    with pytest.raises(InfraError, match="no SASL_SSL listener on port 19094") as refused:
        broker.start()

    assert "orderflow-infra down" in refused.value.remedy


@pytest.mark.parametrize(
    ("running_auth", "wanted_auth", "said", "remedy"),
    [
        ("requested", "required", "does not require", "up --client-certificates"),
        ("required", "requested", "requires", "up --secure"),
    ],
)
def test_up_does_not_restart_a_broker_whose_listener_asks_otherwise_for_certificates(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    listener: SecureListener,
    running_auth: ClientAuth,
    wanted_auth: ClientAuth,
    said: str,
    remedy: str,
) -> None:
    layout = StateLayout(
        root=tmp_path, kafka_pom=find_repository_root() / "deploy/local/kafka/pom.xml"
    )
    layout.kafka_config_dir.mkdir(parents=True)
    folder = listener.folder  # prepared: its certificates are named in the properties
    running = KafkaSettings(secure_port=19094, secure_client_auth=running_auth)
    layout.kafka_server_properties.write_text(
        render_server_properties(
            running, layout.kafka_data, SecureListener(folder, 19094, client_auth=running_auth)
        )
    )
    wanted = KafkaSettings(secure_port=19094, secure_client_auth=wanted_auth)
    broker = KafkaBroker(layout, wanted)
    monkeypatch.setattr(broker, "running_pid", lambda: 4242)  # "already running"
    monkeypatch.setattr(broker, "wait_until_ready", lambda *, timeout: None)

    with pytest.raises(InfraError, match=f"listener {said} client certificates") as refused:
        broker.start()

    assert remedy in refused.value.remedy


def test_env_secure_gives_the_certificate_when_the_broker_requires_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `up --client-certificates` then `env --secure`: without the certificate every client
    # would fail its TLS handshake.
    secured = prepared_state(monkeypatch, tmp_path, client_auth="required")
    layout = StateLayout(
        root=tmp_path, kafka_pom=find_repository_root() / "deploy/local/kafka/pom.xml"
    )
    layout.kafka_config_dir.mkdir(parents=True)
    settings = KafkaSettings(secure_port=19094, secure_client_auth="required")
    layout.kafka_server_properties.write_text(
        render_server_properties(settings, layout.kafka_data, secured)
    )

    result = runner.invoke(app, ["env", "--secure"])

    assert result.exit_code == 0, result.output
    assert f"KAFKA_SSL_CERTFILE={secured.certificates.client_certificate}" in result.stdout


@pytest.mark.parametrize("word", ["1", "true", "t", "yes", "y", "on", "ON"])
def test_the_variables_take_the_words_the_options_take(
    monkeypatch: pytest.MonkeyPatch, word: str
) -> None:
    monkeypatch.delenv("ORDERFLOW_INFRA_SECURE", raising=False)
    monkeypatch.setenv("ORDERFLOW_INFRA_CLIENT_CERTIFICATES", word)

    assert KafkaSettings.from_environment().secure_client_auth == "required"


def test_up_names_a_configuration_without_a_client_certificate_rule(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listener: SecureListener
) -> None:
    layout = StateLayout(
        root=tmp_path, kafka_pom=find_repository_root() / "deploy/local/kafka/pom.xml"
    )
    layout.kafka_config_dir.mkdir(parents=True)
    settings = KafkaSettings(secure_port=19094)
    rendered = render_server_properties(settings, layout.kafka_data, listener)
    older = "\n".join(line for line in rendered.splitlines() if ".ssl.client.auth=" not in line)
    layout.kafka_server_properties.write_text(older + "\n")
    broker = KafkaBroker(layout, settings)
    monkeypatch.setattr(broker, "running_pid", lambda: 4242)  # "already running"
    monkeypatch.setattr(broker, "wait_until_ready", lambda *, timeout: None)

    with pytest.raises(InfraError, match="names no client-certificate rule") as refused:
        broker.start()

    assert "orderflow-infra down" in refused.value.remedy
