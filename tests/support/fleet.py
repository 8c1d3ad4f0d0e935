"""Several instances of every service as separate processes, and what a scale-out test watches:
who leads each service's relay, how long a consumer group takes to drop a killed member, and
PostgreSQL's deadlock counter.

Instances of a service share its database role, schema and consumer groups, exactly as
replicas of one Deployment would; each has its own HTTP port and log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.system import ServiceFailedToStart, ServiceProcess, wait_until_ready

from tests.support.system_harness import free_port

LEASE_POLL_S = 0.2
GROUP_POLL_S = 0.1


@dataclass
class Instance:
    service: str
    number: int
    process: ServiceProcess

    @property
    def label(self) -> str:
        return f"{self.service}#{self.number}"

    @property
    def pid(self) -> int | None:
        running = self.process.process
        return running.pid if running is not None and running.poll() is None else None


@dataclass
class Fleet:
    infrastructure: Infrastructure
    prefix: str
    log_dir: Path
    per_service: int
    service_env: dict[str, str] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)
    # pid -> when this test stopped or killed it (a relay may lose its lease only after that).
    ended_at: dict[int, float] = field(default_factory=dict)

    def start(self, services: Sequence[str] = DEFAULT_SERVICES) -> None:
        for service in services:
            for number in range(1, self.per_service + 1):
                log = self.log_dir / f"{service}-{number}.log"
                instance = Instance(service, number, ServiceProcess(service, free_port(), log))
                self.instances.append(instance)
                self._launch(instance)
        self.wait_until_ready(self.instances)

    def _launch(self, instance: Instance) -> None:
        instance.process.start(
            self.infrastructure, {"KAFKA_TOPIC_PREFIX": self.prefix, **self.service_env}
        )

    def wait_until_ready(self, instances: Sequence[Instance], timeout_s: float = 180) -> None:
        try:
            wait_until_ready([i.process for i in instances], timeout_s=timeout_s)
        except ServiceFailedToStart as failed:
            raise RuntimeError(f"{failed}:\n{failed.service.log_tail(40)}") from failed

    def of(self, service: str) -> list[Instance]:
        return [i for i in self.instances if i.service == service]

    def first(self, service: str) -> Instance:
        return self.of(service)[0]

    def by_pid(self, pid: int) -> Instance | None:
        return next((i for i in self.instances if i.pid == pid), None)

    def stop(self, instance: Instance) -> None:
        """SIGTERM, as a rolling update does: it finishes its batch and leaves the group."""
        self._ending(instance)
        instance.process.stop()

    def kill(self, instance: Instance) -> None:
        """SIGKILL: no goodbye to the group, the relay lease or anyone."""
        self._ending(instance)
        instance.process.kill()

    def _ending(self, instance: Instance) -> None:
        if instance.pid is not None:
            self.ended_at[instance.pid] = time.monotonic()

    def restart(self, instance: Instance) -> None:
        self._launch(instance)
        self.wait_until_ready([instance])

    def stop_all(self) -> None:
        for instance in reversed(self.instances):
            instance.process.stop()

    def logs(self, lines: int = 20) -> str:
        return "\n".join(f"--- {i.label}\n{i.process.log_tail(lines)}" for i in self.instances)

    def log_lines_containing(self, needle: str) -> list[str]:
        found = []
        for instance in self.instances:
            with contextlib.suppress(OSError):
                text = instance.process.log_path.read_text(errors="replace")
                found += [
                    f"{instance.label}: {line}" for line in text.splitlines() if needle in line
                ]
        return found


def leader_pid(leader_name: str | None) -> int | None:
    """The process of a relay leader, from its name ``<service>@<host>:<pid>``."""
    if not leader_name or ":" not in leader_name:
        return None
    return int(leader_name.rsplit(":", 1)[1])


@dataclass
class LeaseWatch:
    """Samples every service's relay lease; each change of leader is kept with its time."""

    admin_url: str
    services: Sequence[str]
    changes: list[tuple[float, str, str | None, str | None]] = field(default_factory=list)
    _current: dict[str, str | None] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def leader(self, connection: asyncpg.Connection, service: str) -> str | None:
        value = await connection.fetchval(f"SELECT leader_name FROM {service}.relay_lock")
        return None if value is None else str(value)

    async def _run(self) -> None:
        while True:
            try:
                connection = await asyncpg.connect(self.admin_url)
            except (OSError, asyncpg.PostgresError):  # a database outage of the test's
                await asyncio.sleep(LEASE_POLL_S)
                continue
            try:
                await self._sample(connection)
            except Exception:  # the outage ends this session too: reconnect
                await asyncio.sleep(LEASE_POLL_S)
            finally:
                connection.terminate()

    async def _sample(self, connection: asyncpg.Connection) -> None:
        while True:
            for service in self.services:
                name = await self.leader(connection, service)
                if name != self._current.get(service):
                    previous = self._current.get(service)
                    self.changes.append((time.monotonic(), service, previous, name))
                    self._current[service] = name
            await asyncio.sleep(LEASE_POLL_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lease-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def current(self, service: str) -> str | None:
        return self._current.get(service)


async def wait_for_leader(watch: LeaseWatch, fleet: Fleet, service: str) -> Instance:
    """The running instance that leads ``service``'s relay (waits until one does)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = leader_pid(watch.current(service))
        instance = fleet.by_pid(pid) if pid is not None else None
        if instance is not None:
            return instance
        await asyncio.sleep(LEASE_POLL_S)
    raise AssertionError(f"no running instance of {service} leads its relay")


async def broker_min_session_ms(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        node = str(cluster["brokers"][0]["node_id"])
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, node)])
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "group.min.session.timeout.ms":
                    return int(entry[1])
    finally:
        await admin.close()
    return 6000  # Kafka's default


async def seconds_until_group_has(bootstrap: str, group: str, members: int) -> float:
    """From now until ``group`` is stable with exactly ``members`` members: after a SIGKILL,
    how long the dead member's partitions stay assigned to nobody alive."""
    started = time.monotonic()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while time.monotonic() - started < 120:
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, described, *_ = response.groups[0]
            if state == "Stable" and len(described) == members:
                return time.monotonic() - started
            await asyncio.sleep(GROUP_POLL_S)
    finally:
        await admin.close()
    raise AssertionError(f"{group} did not settle on {members} members within 120 s")


async def deadlocks(admin_url: str) -> int:
    """PostgreSQL's count of deadlocks detected in this database (since the stats reset)."""
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        value = await connection.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value or 0)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def database_outage(server_admin_url: str, database: str) -> AsyncIterator[float]:
    """``database`` lost for the block: every session ended, none let in until the block
    exits (what a failover looks like to the services). Yields when it began.
    ``server_admin_url``: an admin connection to another database of the same server."""
    connection = await asyncpg.connect(server_admin_url)
    name = database.replace('"', '""')
    began = time.monotonic()
    try:
        await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            database,
        )
        yield began
    finally:
        await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await connection.close()
