"""Service settings, read from environment variables (pydantic-settings).

Shared infrastructure addresses use their conventional names (``KAFKA_BOOTSTRAP_SERVERS``,
``LOG_LEVEL``); everything that is per service carries the service's prefix, e.g.
``CART_DATABASE_URL`` or ``PAYMENT_HTTP_PORT``, so several services can share one shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from copy import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from orderflow_chassis.kafka_security import KafkaSecurity

SERVICE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def validate_identifier(name: str) -> str:
    """A service name doubles as its schema name, so it must be a plain SQL identifier."""
    if not SERVICE_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid service name: use lowercase letters, digits and "
            "underscores, starting with a letter"
        )
    return name


# Keyword names some settings also take in code (ServiceSettings(topic_prefix=...)) that are
# not their variables: a host's ENVIRONMENT or TOPIC_PREFIX must not configure Orderflow.
_KEYWORD_ONLY = frozenset({"environment", "topic_prefix"})


class DocumentedVariablesOnly(EnvSettingsSource):
    """The environment, read only under each setting's documented variable names."""

    def _extract_field_info(
        self, field: FieldInfo, field_name: str, model_config: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str, bool]]:
        found = super()._extract_field_info(field, field_name, model_config)
        return [info for info in found if info[1].lower() not in _KEYWORD_ONLY]


class DocumentedSettings(BaseSettings):
    """Settings read from the environment under their documented variable names only."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environment = DocumentedVariablesOnly(settings_cls)
        return (init_settings, environment, dotenv_settings, file_secret_settings)


class SettingsFileError(Exception):
    """A file a setting names cannot be read: a start-up refusal naming the setting."""


class ServiceSettings(DocumentedSettings):
    """Settings every service shares. Build with :meth:`for_service`."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)
    service_name_for_env: ClassVar[str] = ""

    service_name: str
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    kafka_security: KafkaSecurity = Field(
        default_factory=KafkaSecurity.from_environment,
        description="TLS and SASL of every Kafka client: the KAFKA_SECURITY_PROTOCOL, "
        "KAFKA_SASL_* and KAFKA_SSL_* variables (orderflow_chassis.kafka_security)",
    )
    database_url: str = Field(description="DSN of this service's own least-privilege role")
    topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX", "topic_prefix"),
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prepended to every topic and group id: isolates test runs on one broker",
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        validation_alias=AliasChoices("ORDERFLOW_ENV", "environment"),
        description="production refuses development defaults (see production_profile.py)",
    )
    kafka_topics_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_TOPICS_FILE", "kafka_topics_file"),
        description="the declared topics (default: the repository's deploy/topics.yaml)",
    )
    kafka_create_topics: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_CREATE_TOPICS", "kafka_create_topics"),
        description="create missing declared topics at start; default: yes in development, "
        "never in production (there `orderflow-topics apply` creates them)",
    )
    kafka_topic_partitions: int = Field(
        default=3,
        ge=1,
        validation_alias=AliasChoices("KAFKA_TOPIC_PARTITIONS", "kafka_topic_partitions"),
        description="partitions of the topics a service creates in development (tests and a "
        "laptop broker stay small); production topics get the declared count",
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        validation_alias=AliasChoices("KAFKA_ALLOW_PLAINTEXT", "kafka_allow_plaintext"),
        description="production only: accept an unencrypted Kafka connection",
    )
    clock_offset_s: float = Field(
        default=0.0,
        ge=-366 * 86_400,
        le=366 * 86_400,
        description="end-to-end tests of time rules only (return windows, warranty terms, "
        "warehouse times): the service's clock runs this many seconds off the system's; "
        "refused in production",
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
    http_max_connections: int = Field(
        default=1000,
        ge=10,
        description="open HTTP connections (or requests in progress) past which a new one is "
        "answered 503 at once, so slow or idle clients cannot exhaust the file descriptors",
    )

    db_pool_min_size: int = Field(default=1, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_command_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="a statement with no answer by then is cancelled and retried: a hung or "
        "vanished server never holds a consumer, the relay or a request for ever",
    )
    db_acquire_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="how long a request (or a job) waits for a free pooled connection; "
        "then HTTP 503 with Retry-After (the job tries again later)",
    )

    consumer_max_records: int = Field(default=200, ge=1, description="records per batch")
    consumer_batch_timeout_ms: int = Field(default=200, ge=1)
    # Measured (decisions 38, 56): gathering a batch for up to 50 ms cut the CPU per order by
    # a quarter at 5 and 20 orders/s; 256 KiB lets a loaded consumer's longer wait fill it.
    consumer_fetch_min_bytes: int = Field(
        default=262_144,
        ge=1,
        description="the broker answers a fetch once this many bytes are ready (or the wait "
        "below is up): more records per transaction under load, for at most that wait",
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="the longest the broker holds a fetch for consumer_fetch_min_bytes",
    )
    # Measured (decision 56): 200 ms when loaded made the pipeline about 40 % faster at full
    # speed; waiting that long when not loaded tripled the latency at 5 orders/s. Keep it
    # within consumer_batch_timeout_ms, or polls time out before the fetch answers.
    consumer_fetch_loaded_max_wait_ms: int = Field(
        default=200,
        ge=0,
        description="the fetch wait of a consumer busy applying batches 80 % of its time "
        "(from half its time, between consumer_fetch_max_wait_ms and this): fuller batches "
        "for records that queue anyway",
    )
    consumer_commit_interval_ms: int = Field(
        default=1000,
        ge=0,
        description="Kafka offsets are committed at most this often (and whenever the "
        "consumer is idle); 0 commits after every batch. The database's consumer positions "
        "skip what a crash redelivers",
    )
    consumer_retry_attempts: int = Field(
        default=8, ge=1, description="transient-failure attempts before the batch is rewound"
    )
    consumer_retry_initial_delay_s: float = Field(default=0.1, gt=0)
    consumer_retry_max_delay_s: float = Field(default=5.0, gt=0)
    consumer_max_poll_interval_ms: int = Field(
        default=300_000,
        ge=180_000,
        description="a consumer that has not polled for this long leaves its group (its "
        "partitions go to others); a batch's retries stop at half of it and the batch is "
        "rewound after a pause of at most a tenth of it, so a slow provider or database "
        "(a statement may take DB_COMMAND_TIMEOUT_S) never gets a live consumer evicted",
    )
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

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSettings:
        """Settings that contradict each other fail here, naming both."""
        prefix = f"{self.service_name.upper()}_"
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError(
                f"{prefix}DB_POOL_MIN_SIZE ({self.db_pool_min_size}) is above "
                f"{prefix}DB_POOL_MAX_SIZE ({self.db_pool_max_size})"
            )
        if self.consumer_retry_initial_delay_s > self.consumer_retry_max_delay_s:
            raise ValueError(
                f"{prefix}CONSUMER_RETRY_INITIAL_DELAY_S ({self.consumer_retry_initial_delay_s}) "
                f"is above {prefix}CONSUMER_RETRY_MAX_DELAY_S ({self.consumer_retry_max_delay_s})"
            )
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def creates_topics(self) -> bool:
        """Whether the service creates its missing topics at start (development's default)."""
        if self.kafka_create_topics is None:
            return not self.production
        return self.kafka_create_topics

    def env_name(self, field_name: str) -> str:
        """The environment variable that sets ``field_name`` (for messages that name it)."""
        alias = type(self).model_fields[field_name].validation_alias
        if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
            return alias.choices[0]
        return f"{self.service_name.upper()}_{field_name.upper()}"

    @property
    def db_schema(self) -> str:
        """Each service owns exactly one PostgreSQL schema, named after it."""
        return self.service_name

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}orderflow.{self.service_name}"

    def subscription_group(self, subscription: str) -> str:
        """The consumer group of one of the service's subscriptions."""
        return f"{self.consumer_group}.{subscription}"

    def topic(self, name: str) -> str:
        """The real Kafka topic behind a contract topic name."""
        return f"{self.topic_prefix}{name}"

    @classmethod
    def for_service(
        cls,
        service_name: str,
        *,
        defaults: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> ServiceSettings:
        """Read settings for ``service_name`` from ``<SERVICE>_*`` variables (and overrides).

        ``defaults`` replace the chassis' defaults for this service: its variables still win,
        where ``overrides`` win over them.
        """
        validate_identifier(service_name)
        namespace: dict[str, Any] = {
            "model_config": SettingsConfigDict(env_prefix=f"{service_name.upper()}_")
        }
        for name, value in (defaults or {}).items():
            field = cls.model_fields[name]  # a KeyError names a setting that does not exist
            namespace.setdefault("__annotations__", {})[name] = field.annotation
            own = copy(field)  # its bounds and description kept, its default replaced
            own.default = value
            namespace[name] = own
        prefixed: type[ServiceSettings] = type(f"{service_name.title()}Settings", (cls,), namespace)
        return prefixed(service_name=service_name, **overrides)
