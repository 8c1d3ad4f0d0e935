"""How every Kafka client of the project authenticates and encrypts: one settings model.

Read from the environment (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_*``;
see :class:`KafkaSecurity`), validated once, and turned into the keyword arguments of
aiokafka's clients (:meth:`KafkaSecurity.aiokafka_options`) or FastStream's
``KafkaBroker(security=...)`` (:meth:`KafkaSecurity.faststream_security`). Every client the
project creates takes its options from here, so a deployment switches all of them at once.

The default is ``PLAINTEXT`` with nothing else set: development stays zero-config.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "KAFKA_"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)


class SaslMechanism(StrEnum):
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    PLAIN = "PLAIN"


class KafkaSettingsError(ValueError):
    """A missing, unknown or contradictory Kafka security setting; the message names it."""


def setting_name(field: str) -> str:
    """The environment variable behind a field of :class:`KafkaSecurity`."""
    return f"{ENV_PREFIX}{field.upper()}"


class KafkaSecurity(BaseSettings):
    """Kafka client security. Each field is read from ``KAFKA_<FIELD>`` (case-insensitive).

    Build with :meth:`from_environment` for start-up errors that name the variable.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, frozen=True
    )

    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    """CA certificate(s), PEM, that signed the brokers' certificates; the system's trust store
    when unset."""
    ssl_certfile: Path | None = None
    """Client certificate, PEM, for brokers that authenticate clients by certificate (mTLS)."""
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        protocol = self.security_protocol
        problems: list[str] = []
        if protocol.uses_sasl:
            for field in ("sasl_username", "sasl_password"):
                value = getattr(self, field)
                secret = value.get_secret_value() if isinstance(value, SecretStr) else value
                if not secret:
                    problems.append(
                        f"{setting_name(field)} is not set: {setting_name('security_protocol')}"
                        f"={protocol} authenticates with {setting_name('sasl_mechanism')}"
                        f"={self.sasl_mechanism}, which needs a username and a password"
                    )
        ssl_files = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
        if not protocol.uses_tls:
            given = [setting_name(f) for f in ssl_files if getattr(self, f) is not None]
            if given:
                problems.append(
                    f"{', '.join(given)} set, but {setting_name('security_protocol')}={protocol} "
                    "does not use TLS: set it to SSL or SASL_SSL, or unset them"
                )
        for field in ssl_files:
            path: Path | None = getattr(self, field)
            if path is not None and not path.is_file():
                problems.append(f"{setting_name(field)}={path}: no such file")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append(
                f"{setting_name('ssl_certfile')} and {setting_name('ssl_keyfile')} go together "
                "(a client certificate needs its private key): set both or neither"
            )
        if self.ssl_key_password is not None and self.ssl_keyfile is None:
            problems.append(
                f"{setting_name('ssl_key_password')} is set without {setting_name('ssl_keyfile')}"
            )
        if problems:
            raise KafkaSettingsError("; ".join(problems))
        return self

    @classmethod
    def from_environment(cls) -> KafkaSecurity:
        """The settings in the environment; :class:`KafkaSettingsError` names what is wrong."""
        try:
            return cls()
        except ValidationError as error:
            raise KafkaSettingsError(_explain(error)) from None

    def describe(self) -> str:
        """How clients connect, without secrets: for logs and error messages."""
        parts = [str(self.security_protocol)]
        if self.security_protocol.uses_sasl:
            parts.append(f"{self.sasl_mechanism} as user {self.sasl_username!r}")
        if self.security_protocol.uses_tls:
            parts.append(f"CA {self.ssl_cafile or 'system trust store'}")
            if self.ssl_certfile is not None:
                parts.append(f"client certificate {self.ssl_certfile}")
        return ", ".join(parts)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context (hostname checked), or None without TLS."""
        if not self.security_protocol.uses_tls:
            return None
        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.ssl_cafile,
                certfile=self.ssl_certfile,
                keyfile=self.ssl_keyfile,
                password=_secret(self.ssl_key_password),
            )
        except (ssl.SSLError, OSError) as error:
            raise KafkaSettingsError(
                f"cannot load the TLS files ({setting_name('ssl_cafile')}={self.ssl_cafile}, "
                f"{setting_name('ssl_certfile')}={self.ssl_certfile}, "
                f"{setting_name('ssl_keyfile')}={self.ssl_keyfile}): {error}"
            ) from error
        return context

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient and
        AIOKafkaClient."""
        options: dict[str, Any] = {"security_protocol": str(self.security_protocol)}
        if self.security_protocol.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.security_protocol.uses_sasl:
            options["sasl_mechanism"] = str(self.sasl_mechanism)
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = _secret(self.sasl_password)
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The ``security`` argument of FastStream's ``KafkaBroker``."""
        protocol = self.security_protocol
        if protocol is SecurityProtocol.PLAINTEXT:
            return None
        context = self.ssl_context()
        if not protocol.uses_sasl:
            return BaseSecurity(ssl_context=context, use_ssl=True)
        sasl_class = {
            SaslMechanism.SCRAM_SHA_256: SASLScram256,
            SaslMechanism.SCRAM_SHA_512: SASLScram512,
            SaslMechanism.PLAIN: SASLPlaintext,
        }[self.sasl_mechanism]
        return sasl_class(
            username=self.sasl_username or "",
            password=_secret(self.sasl_password) or "",
            ssl_context=context,
            use_ssl=protocol.uses_tls,
        )


def kafka_client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments for ``security``, or for the environment's settings."""
    return (security or KafkaSecurity.from_environment()).aiokafka_options()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _explain(error: ValidationError) -> str:
    """pydantic's errors, each named by its environment variable."""
    problems = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, KafkaSettingsError):
            problems.append(str(cause))
        elif location:
            name = setting_name(location[0])
            # A password's value never goes into a message.
            shown = "" if "password" in location[0] else f"={item.get('input')!r}"
            problems.append(f"{name}{shown}: {item['msg']}")
        else:
            problems.append(item["msg"])
    return "; ".join(problems)
