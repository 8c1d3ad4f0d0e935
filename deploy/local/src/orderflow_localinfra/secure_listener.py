"""The local broker's optional SASL_SSL listener: TLS with generated certificates, SCRAM users.

`orderflow-infra up --secure` (or ORDERFLOW_INFRA_SECURE=1) adds it next to the PLAINTEXT
listener, which stays for the broker's own use and for tools that have not been switched.
Clients authenticate with SCRAM-SHA-256 or -512 as one user whose password is generated once
and kept under the state folder. By default a client certificate signed by the local CA is
accepted but not needed (``ssl.client.auth=requested``: SCRAM alone is enough); with
``client_auth="required"`` the listener refuses a client that presents none (mutual TLS, then
SCRAM), as a cluster that authenticates clients by certificate does:
`orderflow-infra up --client-certificates` (or ORDERFLOW_INFRA_CLIENT_CERTIFICATES=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .blocking import run_to_completion
from .certificates import CertificateFiles, ensure_certificates
from .errors import StartupFailed

LISTENER_NAME = "SASL_SSL"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
DEFAULT_USERNAME = "orderflow"
CONFIG_COMMAND = "kafka.admin.ConfigCommand"
SECURE_ENV = "ORDERFLOW_INFRA_SECURE"
SECURE_PORT_ENV = "ORDERFLOW_INFRA_SECURE_PORT"
CLIENT_CERTIFICATES_ENV = "ORDERFLOW_INFRA_CLIENT_CERTIFICATES"
DEFAULT_SECURE_PORT = 19094

# Kafka's ssl.client.auth values that verify a client certificate signed by the CA.
ClientAuth = Literal["requested", "required"]


@dataclass(frozen=True)
class SecureListener:
    """Where the secured listener's files live and who may log in."""

    folder: Path
    port: int
    username: str = DEFAULT_USERNAME
    client_auth: ClientAuth = "requested"

    @property
    def requires_client_certificate(self) -> bool:
        return self.client_auth == "required"

    @property
    def certificates(self) -> CertificateFiles:
        return CertificateFiles(self.folder / "certificates")

    @property
    def password_file(self) -> Path:
        return self.folder / f"{self.username}.scram-password"

    def prepare(self) -> None:
        """Certificates and the user's password, made once and reused."""
        ensure_certificates(self.certificates.folder)
        if not self.password_file.is_file():
            self.password_file.write_text(secrets.token_urlsafe(18) + "\n")
            self.password_file.chmod(0o600)

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def client_auth_property(self) -> str:
        return f"listener.name.{LISTENER_NAME.lower()}.ssl.client.auth"

    def server_properties(self) -> dict[str, str]:
        """The listener's entries in server.properties (added to the PLAINTEXT ones)."""
        prefix = f"listener.name.{LISTENER_NAME.lower()}"
        certificates = self.certificates
        scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            **{f"{prefix}.{m.lower()}.sasl.jaas.config": scram_login for m in MECHANISMS},
            f"{prefix}.ssl.keystore.type": "PKCS12",
            f"{prefix}.ssl.keystore.location": str(certificates.server_keystore),
            f"{prefix}.ssl.keystore.password": certificates.keystore_password,
            f"{prefix}.ssl.truststore.type": "PEM",
            f"{prefix}.ssl.truststore.location": str(certificates.ca_certificate),
            self.client_auth_property: self.client_auth,
        }

    def client_environment(self, host: str) -> dict[str, str]:
        """The settings a client of this listener needs (Orderflow's KAFKA_* variables): the
        generated client certificate too when the listener requires one."""
        certificate = (
            {
                "KAFKA_SSL_CERTFILE": str(self.certificates.client_certificate),
                "KAFKA_SSL_KEYFILE": str(self.certificates.client_key),
            }
            if self.requires_client_certificate
            else {}
        )
        return {
            "KAFKA_BOOTSTRAP_SERVERS": f"{host}:{self.port}",
            "KAFKA_SECURITY_PROTOCOL": LISTENER_NAME,
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": self.username,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SSL_CAFILE": str(self.certificates.ca_certificate),
            **certificate,
        }

    def format_arguments(self) -> list[str]:
        """`StorageTool format` arguments that create the user with the storage."""
        return [
            argument
            for mechanism in MECHANISMS
            for argument in (
                "--add-scram",
                f"{mechanism}=[name={self.username},password={self.password}]",
            )
        ]

    def users_marker(self, data_dir: Path) -> Path:
        """Present when the storage in ``data_dir`` holds the user (deleted with the data)."""
        return data_dir / f"orderflow-scram-user-{self.username}"

    def create_user(self, java_command: list[str], plaintext_bootstrap: str, log: Path) -> None:
        """Set the user's SCRAM credentials on a running broker (storage formatted before
        the listener existed), one mechanism per request as Kafka requires. The tool echoes
        its arguments on failure, so its output is masked before it reaches the log."""
        password = self.password
        for mechanism in MECHANISMS:
            command = [
                *java_command, CONFIG_COMMAND, "--bootstrap-server", plaintext_bootstrap,
                "--alter", "--add-config", f"{mechanism}=[password={password}]",
                "--entity-type", "users", "--entity-name", self.username,
            ]  # fmt: skip
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=120
            )
            output = (result.stdout + result.stderr).decode(errors="replace")
            with log.open("a") as written:
                written.write(f"\n$ {' '.join(command)}\n{output}".replace(password, "***"))
            if result.returncode != 0:
                raise StartupFailed(
                    f"creating the SCRAM user {self.username!r} ({mechanism}) failed "
                    f"(exit {result.returncode})",
                    f"read {log}",
                )

    def wait_until_accepting(self, host: str, *, timeout: float) -> None:
        """Block until a SCRAM login over TLS succeeds (credentials reach the broker
        asynchronously, shortly after they are set)."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            try:
                run_to_completion(_log_in(host, self))
                return
            except Exception as error:  # any failure: try again until the deadline
                last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.5)
        raise StartupFailed(
            f"the SASL_SSL listener on {host}:{self.port} did not accept "
            f"{self.username!r} within {timeout:.0f} s ({last_error})",
            "read the broker's server.log",
        )


async def _log_in(host: str, listener: SecureListener) -> None:
    # Imported here: the CLI's other commands should not pay for importing aiokafka.
    from aiokafka.conn import create_conn
    from aiokafka.helpers import create_ssl_context

    certificates = listener.certificates
    mutual = listener.requires_client_certificate
    context: ssl.SSLContext = create_ssl_context(
        cafile=certificates.ca_certificate,
        certfile=certificates.client_certificate if mutual else None,
        keyfile=certificates.client_key if mutual else None,
    )
    async with asyncio.timeout(10):  # never asyncio.wait_for (decision 70)
        connection = await create_conn(
            host,
            listener.port,
            security_protocol=LISTENER_NAME,
            ssl_context=context,
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=listener.username,
            sasl_plain_password=listener.password,
        )
    with contextlib.suppress(Exception):
        connection.close()
