"""Certificates for the local broker's SASL_SSL listener, made with `openssl`.

One private CA signs a server certificate (for 127.0.0.1 and localhost) and a client
certificate (for mutual TLS). The broker reads its key pair from a PKCS#12 keystore and
trusts client certificates signed by the CA (a PEM truststore); clients trust the CA's PEM.
Everything is written once under the broker's state folder and reused on later starts.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import PrerequisiteMissing, StartupFailed

VALID_DAYS = 825  # the longest validity clients commonly accept for a leaf certificate


@dataclass(frozen=True)
class CertificateFiles:
    """The files of one CA and the certificates it signed, all under ``folder``."""

    folder: Path

    @property
    def ca_certificate(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_certificate(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def server_keystore(self) -> Path:
        return self.folder / "server.p12"

    @property
    def keystore_password_file(self) -> Path:
        return self.folder / "server.p12.password"

    @property
    def client_certificate(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"

    @property
    def keystore_password(self) -> str:
        return self.keystore_password_file.read_text().strip()

    def complete(self) -> bool:
        return all(
            path.is_file()
            for path in (
                self.ca_certificate,
                self.server_keystore,
                self.keystore_password_file,
                self.client_certificate,
                self.client_key,
            )
        )


def ensure_certificates(folder: Path, *, ca_name: str = "Orderflow local CA") -> CertificateFiles:
    """Create a CA, a server and a client certificate in ``folder`` unless all exist."""
    files = CertificateFiles(folder)
    if files.complete():
        return files
    openssl = shutil.which("openssl")
    if openssl is None:
        raise PrerequisiteMissing(
            "`openssl` was not found on PATH; it makes the secured listener's certificates",
            "install it, e.g. `apt-get install openssl`",
        )
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    days = str(VALID_DAYS)
    _run(
        openssl,
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days, "-subj",
         f"/CN={ca_name}", "-keyout", files.ca_key, "-out", files.ca_certificate],
    )  # fmt: skip
    _signed_certificate(openssl, files, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    _signed_certificate(openssl, files, "client", "extendedKeyUsage=clientAuth")
    password = secrets.token_urlsafe(18)
    files.keystore_password_file.write_text(password + "\n")
    files.keystore_password_file.chmod(0o600)
    _run(
        openssl,
        ["pkcs12", "-export", "-in", files.server_certificate, "-inkey", files.server_key,
         "-certfile", files.ca_certificate, "-name", "kafka", "-out", files.server_keystore,
         "-passout", f"pass:{password}"],
    )  # fmt: skip
    return files


def _signed_certificate(openssl: str, files: CertificateFiles, name: str, extension: str) -> None:
    key = files.folder / f"{name}.key"
    request = files.folder / f"{name}.csr"
    extensions = files.folder / f"{name}.ext"
    extensions.write_text(extension + "\n")
    _run(
        openssl,
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=orderflow-{name}",
         "-keyout", key, "-out", request],
    )  # fmt: skip
    _run(
        openssl,
        ["x509", "-req", "-in", request, "-CA", files.ca_certificate, "-CAkey", files.ca_key,
         "-CAcreateserial", "-days", str(VALID_DAYS), "-extfile", extensions,
         "-out", files.folder / f"{name}.pem"],
    )  # fmt: skip
    request.unlink()
    extensions.unlink()
    key.chmod(0o600)


def _run(openssl: str, arguments: list[str | Path]) -> None:
    result = subprocess.run(
        [openssl, *map(str, arguments)], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise StartupFailed(
            f"`openssl {arguments[0]}` failed: {result.stderr.strip()[-500:]}",
            "check that `openssl version` works; delete the certificate folder to start over",
        )
