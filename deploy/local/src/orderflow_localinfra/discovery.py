"""Find or start a Kafka broker and a PostgreSQL server for tests and `run` commands.

Each of the two is taken, independently, from the first source that has it:

1. the environment: `KAFKA_BOOTSTRAP_SERVERS`, and `DATABASE_URL` (an admin DSN);
2. testcontainers, when a Docker engine answers;
3. the local processes of `orderflow-infra up`.

Local processes are left running when the caller is done (re-runs start in a second instead
of ten); `orderflow-infra down` stops them. Containers always stop with `Infrastructure.stop`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any

from .blocking import run_to_completion
from .errors import InfraError
from .local_stack import LocalStack, UpReport
from .postgres import PostgresSettings
from .processes import port_accepts_connections
from .provisioning import DEFAULT_SERVICES, provision_services

KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"
DATABASE_ENV = "DATABASE_URL"
# "1" forces testcontainers, "0" skips them; unset means "when a Docker engine answers".
TESTCONTAINERS_ENV = "ORDERFLOW_TESTCONTAINERS"
KAFKA_IMAGE_ENV = "ORDERFLOW_TESTCONTAINERS_KAFKA_IMAGE"
POSTGRES_IMAGE_ENV = "ORDERFLOW_TESTCONTAINERS_POSTGRES_IMAGE"
# testcontainers' KafkaContainer configures Confluent's image; this tag is the one its KRaft
# mode is documented with. PostgreSQL matches the local server's major version.
DEFAULT_KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
DEFAULT_POSTGRES_IMAGE = "postgres:15"

logger = logging.getLogger(__name__)


class Provenance(StrEnum):
    ENVIRONMENT = "environment"
    TESTCONTAINERS = "testcontainers"
    LOCAL = "local"


@dataclass
class Infrastructure:
    """Where Kafka and PostgreSQL are, and how to stop what this process started."""

    kafka_bootstrap_servers: str
    admin_database_url: str
    service_database_urls: dict[str, str]
    kafka_provenance: Provenance
    postgres_provenance: Provenance
    # Components ("kafka", "postgres") that were not running before this call.
    started_here: frozenset[str] = frozenset()
    _stop_callbacks: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def provision(self, services: Sequence[str]) -> dict[str, str]:
        """Provision more services (e.g. a test's own); returns and records their DSNs."""
        urls = run_to_completion(provision_services(self.admin_database_url, services))
        self.service_database_urls.update(urls)
        return urls

    async def provision_async(self, services: Sequence[str]) -> dict[str, str]:
        urls = await provision_services(self.admin_database_url, services)
        self.service_database_urls.update(urls)
        return urls

    def stop(self) -> None:
        """Stop the containers this call started (and local processes, if asked to)."""
        while self._stop_callbacks:
            stop = self._stop_callbacks.pop()
            try:
                stop()
            except Exception:  # keep stopping the rest
                logger.exception("stopping test infrastructure failed")

    def __enter__(self) -> Infrastructure:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def ensure_infrastructure(
    *,
    services: Sequence[str] = DEFAULT_SERVICES,
    use_testcontainers: bool | None = None,
    keep_local_running: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Infrastructure:
    """Find or start Kafka and PostgreSQL, provision `services`, and say where they are.

    `use_testcontainers`: None means "if a Docker engine answers" (or as
    $ORDERFLOW_TESTCONTAINERS says). `keep_local_running=False` makes `stop()` also stop the
    local processes that this call started. Blocking; from async code, call it through
    `asyncio.to_thread`.
    """
    environ = os.environ if environ is None else environ
    kafka_url = environ.get(KAFKA_ENV) or None
    database_url = environ.get(DATABASE_ENV) or None
    if kafka_url is not None:
        _check_kafka_reachable(kafka_url)

    stop_callbacks: list[Callable[[], None]] = []
    started: set[str] = set()
    kafka_provenance = postgres_provenance = Provenance.ENVIRONMENT
    try:
        if kafka_url is None or database_url is None:
            if _should_use_testcontainers(use_testcontainers, environ):
                if kafka_url is None:
                    kafka_url, stop = _start_kafka_container(environ)
                    stop_callbacks.append(stop)
                    started.add("kafka")
                    kafka_provenance = Provenance.TESTCONTAINERS
                if database_url is None:
                    database_url, stop = _start_postgres_container(environ)
                    stop_callbacks.append(stop)
                    started.add("postgres")
                    postgres_provenance = Provenance.TESTCONTAINERS
            else:
                report = _bring_up_local(
                    kafka=kafka_url is None,
                    postgres=database_url is None,
                    keep_running=keep_local_running,
                    stop_callbacks=stop_callbacks,
                )
                if kafka_url is None:
                    kafka_url = report.kafka_bootstrap_servers
                    kafka_provenance = Provenance.LOCAL
                if database_url is None:
                    database_url = report.admin_database_url
                    postgres_provenance = Provenance.LOCAL
                started |= report.started
        assert kafka_url is not None, "every branch above sets it"
        assert database_url is not None, "every branch above sets it"
        service_urls = run_to_completion(provision_services(database_url, services))
    except BaseException:
        for stop in reversed(stop_callbacks):
            stop()
        raise
    return Infrastructure(
        kafka_bootstrap_servers=kafka_url,
        admin_database_url=database_url,
        service_database_urls=service_urls,
        kafka_provenance=kafka_provenance,
        postgres_provenance=postgres_provenance,
        started_here=frozenset(started),
        _stop_callbacks=stop_callbacks,
    )


def _bring_up_local(
    *,
    kafka: bool,
    postgres: bool,
    keep_running: bool,
    stop_callbacks: list[Callable[[], None]],
) -> UpReport:
    stack = LocalStack()
    report = stack.up(services=(), kafka=kafka, postgres=postgres)
    if not keep_running and report.started:

        def stop_what_we_started() -> None:
            stack.down(kafka="kafka" in report.started, postgres="postgres" in report.started)

        stop_callbacks.append(stop_what_we_started)
    return report


def docker_engine_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping; never raises (no engine is a normal case)."""
    try:
        import docker  # type: ignore[import-untyped]  # no stubs in the workspace
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
    except Exception:  # DockerException and friends: no engine configured or reachable
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _should_use_testcontainers(requested: bool | None, environ: Mapping[str, str]) -> bool:
    if requested is None and environ.get(TESTCONTAINERS_ENV) in {"0", "1"}:
        requested = environ[TESTCONTAINERS_ENV] == "1"
    if requested is False:
        return False
    available = _testcontainers_installed() and docker_engine_answers()
    if requested and not available:
        raise InfraError(
            "testcontainers were requested but no Docker engine answers "
            "(or the testcontainers package is not installed)",
            f"start Docker, or unset {TESTCONTAINERS_ENV} to use the local processes",
        )
    return available


def _testcontainers_installed() -> bool:
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return False
    return True


def _start_kafka_container(environ: Mapping[str, str]) -> tuple[str, Callable[[], None]]:
    kafka_module: Any
    try:
        import testcontainers.community.kafka as kafka_module
    except ImportError:  # testcontainers older than 4.14 has no community namespace
        import testcontainers.kafka as kafka_module

    container = (
        kafka_module.KafkaContainer(environ.get(KAFKA_IMAGE_ENV, DEFAULT_KAFKA_IMAGE))
        .with_kraft()
        # The same broker behaviour as the local one (see kafka.render_server_properties).
        .with_env("KAFKA_NUM_PARTITIONS", "3")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    )
    container.start()
    return str(container.get_bootstrap_server()), container.stop


def _start_postgres_container(environ: Mapping[str, str]) -> tuple[str, Callable[[], None]]:
    postgres_module: Any
    try:
        import testcontainers.community.postgres as postgres_module
    except ImportError:
        import testcontainers.postgres as postgres_module

    settings = PostgresSettings()
    container = postgres_module.PostgresContainer(
        environ.get(POSTGRES_IMAGE_ENV, DEFAULT_POSTGRES_IMAGE),
        username=settings.admin_role,
        password=settings.admin_password,
        dbname=settings.database,
        driver=None,
    )
    container.start()
    return str(container.get_connection_url()), container.stop


def _check_kafka_reachable(bootstrap_servers: str) -> None:
    addresses = [address.strip() for address in bootstrap_servers.split(",") if address.strip()]
    for address in addresses:
        host, _, port = address.rpartition(":")
        if port.isdigit() and port_accepts_connections(host.strip("[]"), int(port), timeout=2):
            return
    raise InfraError(
        f"{KAFKA_ENV}={bootstrap_servers} does not accept connections",
        f"start that broker, or unset {KAFKA_ENV} to use a local or containerised one",
    )
