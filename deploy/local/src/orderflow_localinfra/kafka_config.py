"""The local broker's settings and the configuration files rendered from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .secure_listener import (
    CLIENT_CERTIFICATES_ENV,
    DEFAULT_SECURE_PORT,
    LISTENER_NAME,
    SECURE_ENV,
    SECURE_PORT_ENV,
    ClientAuth,
    SecureListener,
)


@dataclass(frozen=True)
class KafkaSettings:
    host: str = "127.0.0.1"
    broker_port: int = 19092
    controller_port: int = 19093
    node_id: int = 1
    # Three partitions by default so per-key ordering tests exercise real partitioning.
    num_partitions: int = 3
    heap: str = "1g"
    # A SASL_SSL listener (SCRAM, generated certificates) on this port, next to PLAINTEXT.
    secure_port: int | None = None
    # "required": the SASL_SSL listener refuses clients without a CA-signed certificate.
    secure_client_auth: ClientAuth = "requested"
    # Kafka's default; a test's private broker takes fewer, so a restart recovers fewer logs.
    offsets_topic_partitions: int = 50

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.broker_port}"

    @classmethod
    def from_environment(
        cls, *, secure: bool | None = None, client_certificates: bool | None = None
    ) -> KafkaSettings:
        """Defaults, with the SASL_SSL listener when ``secure`` (or, when None, when
        ORDERFLOW_INFRA_SECURE is 1/true/t/yes/y/on) on ORDERFLOW_INFRA_SECURE_PORT (19094).
        ``client_certificates`` (or ORDERFLOW_INFRA_CLIENT_CERTIFICATES) makes the listener
        require a client certificate (mutual TLS); it implies ``secure``."""
        if secure is None:
            secure = _flag(SECURE_ENV)
        if client_certificates is None:
            client_certificates = _flag(CLIENT_CERTIFICATES_ENV)
        port = int(os.environ.get(SECURE_PORT_ENV) or DEFAULT_SECURE_PORT)
        return cls(
            secure_port=port if secure or client_certificates else None,
            secure_client_auth="required" if client_certificates else "requested",
        )


# The JVMs run here compile with C1 only (decision 72): a local broker or Kafka tool lives
# seconds to hours on a machine it shares with the services, and C2's compiler threads took
# 28 % of a core for minutes after each broker start, more than C1's slower code costs.
QUICK_JIT = "-XX:TieredStopAtLevel=1"


def broker_jvm_options(settings: KafkaSettings) -> list[str]:
    """The local broker's JVM options: a fixed heap, short GC pauses, C1 only."""
    return [
        f"-Xms{settings.heap}",
        f"-Xmx{settings.heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        QUICK_JIT,
        "-Djava.awt.headless=true",
    ]


def _flag(name: str) -> bool:
    # The words the CLI's options accept for the same variables (click's booleans).
    return os.environ.get(name, "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


def render_server_properties(
    settings: KafkaSettings, data_dir: Path, secure: SecureListener | None = None
) -> str:
    """server.properties for one process acting as both broker and KRaft controller."""
    broker = f"PLAINTEXT://{settings.host}:{settings.broker_port}"
    if secure is not None:
        broker += f",{LISTENER_NAME}://{settings.host}:{secure.port}"
    controller = f"CONTROLLER://{settings.host}:{settings.controller_port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if secure is not None:
        protocols += f",{LISTENER_NAME}:{LISTENER_NAME}"
    properties = {
        "process.roles": "broker,controller",
        "node.id": str(settings.node_id),
        "controller.quorum.bootstrap.servers": f"{settings.host}:{settings.controller_port}",
        "listeners": f"{broker},{controller}",
        "advertised.listeners": f"{broker},{controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": protocols,
        "log.dirs": str(data_dir),
        "num.partitions": str(settings.num_partitions),
        "auto.create.topics.enable": "true",
        "default.replication.factor": "1",
        # One broker: internal topics cannot have more than one replica.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": str(settings.offsets_topic_partitions),
        "offsets.topic.min.isr": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # The 3 s default delays every new consumer group's first assignment.
        "group.initial.rebalance.delay.ms": "0",
        # Lets a test (or a developer) give consumers a session under 3 s, so a killed
        # instance's partitions move on quickly; the default minimum is 6 s.
        "group.min.session.timeout.ms": "1000",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
        **(secure.server_properties() if secure is not None else {}),
    }
    lines = [
        "# Generated by orderflow-infra on every `up`; edit deploy/local, not this file.",
        *(f"{key}={value}" for key, value in properties.items()),
    ]
    return "\n".join(lines) + "\n"


def render_log4j2_config(logs_dir: Path) -> str:
    """log4j2 configuration: the broker's own log in `logs_dir`, rolled at 20 MiB."""
    server_log = logs_dir / "server.log"
    return f"""\
# Generated by orderflow-infra on every `up`.
status = warn
name = orderflow-local-kafka
# Log4j's own shutdown hook would stop logging before Kafka's controlled shutdown finishes.
shutdownHook = disable

appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = {server_log}
appender.server.filePattern = {server_log}.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 20MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 5

rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server

# Per-request and per-partition chatter that drowns what matters.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""
