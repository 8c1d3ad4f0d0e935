"""PostgreSQL TLS settings for every pool and connection: libpq's own names, checked at start.

A DSN may carry ``sslmode``, ``sslrootcert``, ``sslcert`` and ``sslkey`` in its query string;
what it leaves out comes from libpq's environment variables (``PGSSLMODE``,
``PGSSLROOTCERT``, ``PGSSLCERT``, ``PGSSLKEY``), which a managed database's or
CloudNativePG's documentation already tells operators to set. :func:`with_tls_settings`
writes the merged settings into the DSN, so what asyncpg uses is what was checked, and
refuses, naming the setting, a mode it does not know or a certificate file that is not there.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# DSN query parameter -> libpq environment variable.
TLS_PARAMETERS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
}
_FILES = ("sslrootcert", "sslcert", "sslkey")


class PostgresSettingsError(ValueError):
    """A PostgreSQL TLS setting that cannot work; the message names it."""


class PostgresTlsError(ConnectionError):
    """The TLS handshake with PostgreSQL failed; retrying would not help."""


@dataclass(frozen=True)
class PostgresTls:
    """The TLS settings one DSN connects with, and where each came from."""

    values: dict[str, str]
    sources: dict[str, str]  # parameter -> "PGSSLMODE" or "sslmode in the DSN"

    def describe(self) -> str:
        return ", ".join(f"{self.sources[name]}={value}" for name, value in self.values.items())


def tls_settings(dsn: str, environment: dict[str, str] | None = None) -> PostgresTls:
    """The DSN's TLS parameters, completed from the environment, checked."""
    env = os.environ if environment is None else environment
    query = dict(parse_qsl(urlsplit(dsn).query))
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for parameter, variable in TLS_PARAMETERS.items():
        if query.get(parameter):
            values[parameter], sources[parameter] = query[parameter], f"{parameter} in the DSN"
        elif env.get(variable):
            values[parameter], sources[parameter] = env[variable], variable
    _check(values, sources)
    return PostgresTls(values, sources)


def with_tls_settings(dsn: str, environment: dict[str, str] | None = None) -> str:
    """``dsn`` with its checked TLS settings written into its query string."""
    tls = tls_settings(dsn, environment)
    if not tls.values:
        return dsn
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    query.update(tls.values)
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_tls_refusal(error: BaseException) -> bool:
    """A TLS failure (untrusted certificate, server without TLS): retrying will not help."""
    return isinstance(error, ssl.SSLError) or (
        isinstance(error, ConnectionError) and "rejected SSL upgrade" in str(error)
    )


def explain_tls_refusal(error: BaseException, tls: PostgresTls) -> str:
    settings = tls.describe() or "no sslmode set (asyncpg's default: prefer)"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"PostgreSQL's TLS certificate was not trusted ({error.verify_message or error}) "
            f"with {settings}: is the root certificate the CA that signed the server's?"
        )
    return f"PostgreSQL TLS failed with {settings}: {error}"


def _check(values: dict[str, str], sources: dict[str, str]) -> None:
    problems = []
    mode = values.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        problems.append(f"{sources['sslmode']}={mode}: use one of {', '.join(SSL_MODES)}")
    for parameter in _FILES:
        path = values.get(parameter)
        if path is not None and not Path(path).expanduser().is_file():
            problems.append(f"{sources[parameter]}={path}: no such file")
    if ("sslcert" in values) != ("sslkey" in values):
        problems.append(
            "a client certificate needs its key: set sslcert and sslkey (PGSSLCERT and "
            "PGSSLKEY) together"
        )
    if problems:
        raise PostgresSettingsError("; ".join(problems))
