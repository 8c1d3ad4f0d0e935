"""Fail closed in production: ``ORDERFLOW_ENV=production`` refuses development defaults.

Development stays zero-config (local broker and database, sandbox payments, plaintext Kafka,
one-replica topics). In production each of those is a refusal at start, with a message naming
the setting and what to set instead; all refusals are listed at once, so one restart fixes them.
A service adds its own (payment refuses its sandbox provider) through the same error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.topic_catalog import TopicCatalog

SECURITY_PROTOCOL_ENV = "KAFKA_SECURITY_PROTOCOL"
"""Read here until the Kafka security settings own it (then the lead wires the two together)."""

PRODUCTION_MIN_REPLICATION = 3
PRODUCTION_MIN_INSYNC = 2
_UNENCRYPTED_PROTOCOLS = {"PLAINTEXT", "SASL_PLAINTEXT"}
# The passwords deploy/local and docker-compose.yml create: public, so never for production.
_DEVELOPMENT_PASSWORD = re.compile(r"^(orderflow_admin|[a-z_]+-local-password)$")


class ProductionProfileError(RuntimeError):
    """Production settings that must change before the service may start."""

    def __init__(self, service: str, refusals: list[str]) -> None:
        self.service = service
        self.refusals = refusals
        listed = "\n".join(f"  - {refusal}" for refusal in refusals)
        super().__init__(
            f"{service}: ORDERFLOW_ENV=production refuses to start with development "
            f"settings ({len(refusals)} to fix):\n{listed}"
        )


def check_production_profile(
    settings: ServiceSettings,
    catalog: TopicCatalog,
    *,
    security_protocol: str | None = None,
    extra_refusals: Iterable[str] = (),
) -> None:
    """Raise :class:`ProductionProfileError` listing every refusal; no-op in development."""
    if not settings.production:
        return
    refusals = production_refusals(settings, catalog, security_protocol=security_protocol)
    refusals += list(extra_refusals)
    if refusals:
        raise ProductionProfileError(settings.service_name, refusals)


def production_refusals(
    settings: ServiceSettings, catalog: TopicCatalog, *, security_protocol: str | None = None
) -> list[str]:
    """What a production service may not start with (empty when all is well)."""
    protocol = (security_protocol or settings.kafka_security.security_protocol.value).upper()
    return [
        *_addresses(settings),
        *_database_password(settings),
        *plaintext_kafka_refusals(protocol, allowed=settings.kafka_allow_plaintext),
        *_topic_creation(settings),
        *declared_topic_refusals(catalog),
        *_clock_offset(settings),
    ]


def declared_topic_refusals(catalog: TopicCatalog) -> list[str]:
    """Declared topics too weakly replicated for production (also used by the apply command)."""
    refusals = []
    weak = sorted(t.name for t in catalog if t.replication_factor < PRODUCTION_MIN_REPLICATION)
    if weak:
        refusals.append(
            f"{catalog.source}: replication_factor below {PRODUCTION_MIN_REPLICATION} for "
            f"{_few(weak)}: one broker lost could lose acknowledged events; set "
            f"replication_factor: {PRODUCTION_MIN_REPLICATION} (in defaults, and drop the "
            "per-topic overrides)"
        )
    unsafe = sorted(t.name for t in catalog if t.min_insync_replicas < PRODUCTION_MIN_INSYNC)
    if unsafe:
        refusals.append(
            f"{catalog.source}: min_insync_replicas below {PRODUCTION_MIN_INSYNC} for "
            f"{_few(unsafe)}: a write acknowledged by a single replica is lost with it; set "
            f"min_insync_replicas: {PRODUCTION_MIN_INSYNC}"
        )
    return refusals


def _addresses(settings: ServiceSettings) -> list[str]:
    refusals = []
    # Never a default that silently points at localhost: these must be set explicitly.
    if "kafka_bootstrap_servers" not in settings.model_fields_set:
        refusals.append(
            "KAFKA_BOOTSTRAP_SERVERS is not set (the development default is "
            f"{settings.kafka_bootstrap_servers}); set it to the brokers' host:port list"
        )
    if "http_host" not in settings.model_fields_set:
        refusals.append(
            f"{settings.env_name('http_host')} is not set (the development default "
            f"{settings.http_host} is unreachable from probes and other hosts); set it, "
            "e.g. to 0.0.0.0"
        )
    if settings.http_port == 0:
        refusals.append(
            f"{settings.env_name('http_port')} is not set (0 picks a random port that probes "
            "cannot know); set the port the probes and the Service use, e.g. 8080"
        )
    return refusals


def _database_password(settings: ServiceSettings) -> list[str]:
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:
        password = None
    if password and _DEVELOPMENT_PASSWORD.fullmatch(password):
        return [
            f"{settings.env_name('database_url')} uses the development password "
            f"{password!r} (published in this repository); give the role "
            f"{settings.service_name}'s own secret password"
        ]
    return []


def plaintext_kafka_refusals(protocol: str, *, allowed: bool) -> list[str]:
    """An unencrypted Kafka protocol, unless KAFKA_ALLOW_PLAINTEXT (services and ops tools)."""
    protocol = protocol.upper()
    if protocol in _UNENCRYPTED_PROTOCOLS and not allowed:
        return [
            f"{SECURITY_PROTOCOL_ENV} is {protocol}: events (orders, amounts, addresses) would "
            f"cross the network unencrypted; set {SECURITY_PROTOCOL_ENV}=SASL_SSL (or SSL), "
            "or KAFKA_ALLOW_PLAINTEXT=true if the network is encrypted by other means"
        ]
    return []


def _topic_creation(settings: ServiceSettings) -> list[str]:
    if settings.kafka_create_topics:
        return [
            "KAFKA_CREATE_TOPICS=true contradicts the production profile: production services "
            "only check that their topics exist; unset it and create the topics with "
            "`orderflow-topics apply`"
        ]
    return []


def _clock_offset(settings: ServiceSettings) -> list[str]:
    if settings.clock_offset_s:
        prefix = settings.service_name.upper()
        return [
            f"{prefix}_CLOCK_OFFSET_S={settings.clock_offset_s:.0f} is for end-to-end tests: a "
            "production service keeps the system's time; unset it"
        ]
    return []


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:4])
    return f"{shown} and {len(names) - 4} more" if len(names) > 4 else shown
