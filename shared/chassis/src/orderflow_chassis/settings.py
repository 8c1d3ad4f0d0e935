"""Service settings, read from environment variables (pydantic-settings).

Shared infrastructure addresses use their conventional names (``KAFKA_BOOTSTRAP_SERVERS``,
``LOG_LEVEL``); everything that is per service carries the service's prefix, e.g.
``CART_DATABASE_URL`` or ``PAYMENT_HTTP_PORT``, so several services can share one shell.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def validate_identifier(name: str) -> str:
    """A service name doubles as its schema name, so it must be a plain SQL identifier."""
    if not SERVICE_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid service name: use lowercase letters, digits and "
            "underscores, starting with a letter"
        )
    return name


class ServiceSettings(BaseSettings):
    """Settings every service shares. Build with :meth:`for_service`."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)
    service_name_for_env: ClassVar[str] = ""

    service_name: str
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    database_url: str = Field(description="DSN of this service's own least-privilege role")
    topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX", "topic_prefix"),
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prepended to every topic and group id: isolates test runs on one broker",
    )
    kafka_topic_partitions: int = Field(
        default=3,
        ge=1,
        validation_alias=AliasChoices("KAFKA_TOPIC_PARTITIONS", "kafka_topic_partitions"),
        description="partitions of the topics a service creates (those it subscribes to)",
    )
    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("KAFKA_REPLICATION_FACTOR", "kafka_replication_factor"),
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))
    log_format: str = Field(
        default="json",
        validation_alias=AliasChoices("LOG_FORMAT", "log_format"),
        description="json for machines, console for a human at a terminal",
    )

    http_host: str = "127.0.0.1"
    http_port: int = Field(
        default=0, ge=0, le=65535, description="health, metrics and API; 0 picks a free port"
    )

    db_pool_min_size: int = Field(default=1, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)

    consumer_max_records: int = Field(default=200, ge=1, description="records per batch")
    consumer_batch_timeout_ms: int = Field(default=200, ge=1)
    consumer_retry_attempts: int = Field(
        default=8, ge=1, description="transient-failure attempts before the batch is rewound"
    )
    consumer_retry_initial_delay_s: float = Field(default=0.1, gt=0)
    consumer_retry_max_delay_s: float = Field(default=5.0, gt=0)
    consumer_handler_attempts: int = Field(
        default=5,
        ge=1,
        description="times an unexpected handler exception is retried before the record is "
        "dead-lettered with every failure it met",
    )
    consumer_session_timeout_ms: int = Field(
        default=6000,
        ge=1,
        description="a consumer silent this long (e.g. killed) loses its partitions to the "
        "others: the stall after a crash. 6000 is the lowest a broker accepts by default "
        "(group.min.session.timeout.ms); lower it there first to go lower",
    )
    consumer_heartbeat_interval_ms: int = Field(
        default=1000,
        ge=1,
        description="how often a consumer tells the group it is alive (a third of the session "
        "timeout at most)",
    )
    inbox_retention_hours: int = Field(
        default=14 * 24,
        ge=1,
        description="applied event ids are kept this long to drop duplicates, then purged; keep "
        "it longer than the outbox retention and the retention of the topics read",
    )

    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_s: float = Field(
        default=1.0, gt=0, description="fallback poll when no NOTIFY arrives"
    )
    relay_lease_s: float = Field(
        default=10.0,
        gt=0,
        description="a relay whose heartbeat is this old (or whose session is gone) is replaced",
    )
    relay_unready_after_s: float = Field(
        default=30.0,
        gt=0,
        description="readiness fails when no relay of the service has led for this long",
    )
    relay_park_after_attempts: int = Field(
        default=5, ge=1, description="rounds Kafka may refuse a row for good before it is parked"
    )
    outbox_retention_hours: int = Field(
        default=72, ge=0, description="sent outbox rows are kept this long for audit, then purged"
    )

    @model_validator(mode="after")
    def _heartbeats_fit_in_a_session(self) -> ServiceSettings:
        if self.consumer_heartbeat_interval_ms * 3 > self.consumer_session_timeout_ms:
            raise ValueError(
                "consumer_heartbeat_interval_ms must be at most a third of "
                "consumer_session_timeout_ms, or one late heartbeat loses the partitions"
            )
        return self

    @field_validator("service_name")
    @classmethod
    def _valid_service_name(cls, value: str) -> str:
        return validate_identifier(value)

    @property
    def db_schema(self) -> str:
        """Each service owns exactly one PostgreSQL schema, named after it."""
        return self.service_name

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}orderflow.{self.service_name}"

    def topic(self, name: str) -> str:
        """The real Kafka topic behind a contract topic name."""
        return f"{self.topic_prefix}{name}"

    @classmethod
    def for_service(cls, service_name: str, **overrides: Any) -> ServiceSettings:
        """Read settings for ``service_name`` from ``<SERVICE>_*`` variables (and overrides)."""
        validate_identifier(service_name)
        prefixed: type[ServiceSettings] = type(
            f"{service_name.title()}Settings",
            (cls,),
            {"model_config": SettingsConfigDict(env_prefix=f"{service_name.upper()}_")},
        )
        return prefixed(service_name=service_name, **overrides)
