"""The local Kafka broker and PostgreSQL server, brought up and down together."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .blocking import run_to_completion
from .component import ComponentStatus
from .errors import InfraError
from .kafka import KafkaBroker, KafkaSettings
from .layout import StateLayout
from .postgres import PostgresServer, PostgresSettings
from .processes import exclusive_lock
from .provisioning import DEFAULT_SERVICES, provision_services


@dataclass(frozen=True)
class UpReport:
    """What `up` found and did."""

    kafka_bootstrap_servers: str | None
    admin_database_url: str | None
    service_database_urls: dict[str, str]
    # component name -> "started" or "already running"
    actions: dict[str, str]
    # step name -> seconds
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def started(self) -> frozenset[str]:
        return frozenset(name for name, action in self.actions.items() if action == "started")


class LocalStack:
    """Kafka and PostgreSQL run as local processes, with all state under `.local-infra/`."""

    def __init__(
        self,
        layout: StateLayout | None = None,
        kafka_settings: KafkaSettings | None = None,
        postgres_settings: PostgresSettings | None = None,
    ) -> None:
        self.layout = layout or StateLayout.discover()
        self.kafka = KafkaBroker(self.layout, kafka_settings or KafkaSettings.from_environment())
        self.postgres = PostgresServer(self.layout, postgres_settings)

    def up(
        self,
        *,
        services: Sequence[str] = DEFAULT_SERVICES,
        kafka: bool = True,
        postgres: bool = True,
        timeout: float = 120,
    ) -> UpReport:
        """Start what is not running (both at once), then provision `services`. Idempotent."""
        actions: dict[str, str] = {}
        timings: dict[str, float] = {}
        steps: dict[str, Callable[[], bool]] = {}
        if kafka:
            steps["kafka"] = lambda: self.kafka.start(timeout=timeout)
        if postgres:
            steps["postgres"] = lambda: self._start_postgres(timeout)

        def timed(name: str) -> None:
            began = time.monotonic()
            actions[name] = "started" if steps[name]() else "already running"
            timings[name] = time.monotonic() - began

        with exclusive_lock(self.layout.lock_file), ThreadPoolExecutor(max_workers=2) as pool:
            futures = {name: pool.submit(timed, name) for name in steps}
            failures = {name: future.exception() for name, future in futures.items()}
        _raise_failures({name: error for name, error in failures.items() if error is not None})

        admin_url = self.postgres.settings.admin_database_url if postgres else None
        service_urls: dict[str, str] = {}
        if admin_url is not None and services:
            began = time.monotonic()
            service_urls = run_to_completion(provision_services(admin_url, services))
            timings["provisioning"] = time.monotonic() - began
        return UpReport(
            kafka_bootstrap_servers=self.kafka.settings.bootstrap_servers if kafka else None,
            admin_database_url=admin_url,
            service_database_urls=service_urls,
            actions=actions,
            timings=timings,
        )

    def _start_postgres(self, timeout: float) -> bool:
        started = self.postgres.start(timeout=timeout)
        # Every time, not only on first start: repairs a role or database dropped by hand.
        self.postgres.bootstrap_admin()
        return started

    def down(self, *, kafka: bool = True, postgres: bool = True) -> list[str]:
        """Stop the servers (both at once), keeping their data. Returns what was running."""
        stops: dict[str, Callable[[], bool]] = {}
        if kafka:
            stops["kafka"] = self.kafka.stop
        if postgres:
            stops["postgres"] = self.postgres.stop
        with exclusive_lock(self.layout.lock_file), ThreadPoolExecutor(max_workers=2) as pool:
            futures = {name: pool.submit(stop) for name, stop in stops.items()}
            return [name for name, future in futures.items() if future.result()]

    def status(self) -> list[ComponentStatus]:
        return [self.kafka.status(), self.postgres.status()]

    def reset(self) -> list[str]:
        """Stop the servers and delete their data and logs; the fetched Kafka jars stay."""
        stopped = self.down()
        with exclusive_lock(self.layout.lock_file):
            for folder in (
                self.layout.kafka_data,
                self.layout.kafka_config_dir,
                self.layout.kafka_logs,
                self.layout.postgres_dir,
            ):
                shutil.rmtree(folder, ignore_errors=True)
            self.layout.kafka_pid_file.unlink(missing_ok=True)
        return stopped


def _raise_failures(failures: dict[str, BaseException]) -> None:
    """Re-raise a failed start; when both failed, report both rather than only the first."""
    if not failures:
        return
    if len(failures) == 1:
        raise next(iter(failures.values()))
    problems = [f"{name}: {error}" for name, error in failures.items()]
    raise InfraError(
        "both servers failed to start:\n" + "\n".join(problems),
        "fix each problem above, then run `orderflow-infra up` again",
    )
