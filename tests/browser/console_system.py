"""The whole system for the browser tests: four services, the console, a warehouse, shoppers.

Everything runs as a person would run it: the services and the console as their own
processes (``python -m orderflow_<service> run``, ``orderflow-console``) on free ports, a
warehouse simulator that plays two of the three warehouses (orders to Asia-Pacific wait for a
dispatch that never comes: they get stuck past their SLA), and the storefront simulator that
`make run` uses for a steady stream of shoppers. All of it on a topic prefix and a database of
its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.storefront import StorefrontSimulator
from orderflow_ops.system import ServiceProcess
from orderflow_ops.traffic import SANDBOX_TOKENS, catalog

from tests.support.service_harness import unique_prefix
from tests.support.system_harness import RunningSystem, free_port

SIMULATED_WAREHOUSES = frozenset({"US-EAST", "EU-CENTRAL"})
"""AP-SOUTHEAST (ships to Japan and Australia) has no simulator: its orders stay stuck."""
STUCK_AFTER_S = 5
"""The console's SLA for every stage in these tests: an order waiting longer is stuck."""
CONSOLE_READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


OPERATOR = Credentials("ops-lead", "operator-password-for-tests")
VIEWER = Credentials("night-watch", "viewer-password-for-tests")


@dataclass
class ConsoleProcess:
    """``orderflow-console`` in its own process, pointed at the run's services and topics."""

    http_port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("orderflow-console")), "run"],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_until_ready(self, timeout_s: float = CONSOLE_READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the console exited with {self.process.returncode} while starting:\n"
                    + self.log_tail(40)
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the console did not answer within {timeout_s:.0f}s:\n{self.log_tail(40)}"
                )
            time.sleep(0.3)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health/ready", timeout=2):  # noqa: S310
                return True
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class ConsoleSystem:
    services: RunningSystem
    console: ConsoleProcess
    _shopping: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def infrastructure(self) -> Infrastructure:
        return self.services.infrastructure

    @property
    def prefix(self) -> str:
        return self.services.prefix

    @property
    def console_url(self) -> str:
        return self.console.base_url

    def url(self, path: str) -> str:
        return self.console.base_url + path

    @asynccontextmanager
    async def shoppers(self, per_second: float = 3.0, seed: int = 13) -> AsyncIterator[None]:
        """The storefront simulator `make run` uses, shopping until the block ends."""
        products = await catalog(self.services.processes["cart"].base_url)
        simulator = StorefrontSimulator(
            self.infrastructure.kafka_bootstrap_servers,
            products,
            SANDBOX_TOKENS,
            topic_prefix=self.prefix,
            seed=seed,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(simulator.run(stop, shoppers_per_second=per_second))
        try:
            yield
        finally:
            stop.set()
            await task

    def logs(self) -> str:
        return f"{self.services.logs()}\n--- console\n{self.console.log_tail(40)}"


def console_env(services: RunningSystem, port: int) -> dict[str, str]:
    """The console's settings, as `make run` would give them (see the console's README)."""
    infrastructure = services.infrastructure
    watched = ",".join(f"{name}={process.base_url}" for name, process in services.processes.items())
    users = ",".join(
        f"{who.username}:{role}:{who.password}"
        for who, role in ((OPERATOR, "operator"), (VIEWER, "viewer"))
    )
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": services.prefix,
        "CONSOLE_DATABASE_URL": infrastructure.service_database_urls["console"],
        "CONSOLE_HTTP_PORT": str(port),
        "CONSOLE_SERVICES": watched,
        "CONSOLE_USERS": users,
        # Orders waiting for a dispatch (Asia-Pacific has no warehouse simulator) are stuck
        # after a few seconds instead of half an hour.
        "CONSOLE_SLA_SHIPMENT_S": str(STUCK_AFTER_S),
        "LOG_LEVEL": "INFO",
    }


@asynccontextmanager
async def console_system(
    infrastructure: Infrastructure, log_dir: Path
) -> AsyncIterator[ConsoleSystem]:
    prefix = unique_prefix("browser")
    async with isolated_database(infrastructure, "browser", (*DEFAULT_SERVICES, "console")) as own:
        services = RunningSystem(own, prefix=prefix, log_dir=log_dir)
        console = ConsoleProcess(free_port(), log_dir / "console.log", env={})
        warehouse = WarehouseSimulator(
            own.kafka_bootstrap_servers,
            topic_prefix=prefix,
            config=SimulatorConfig(
                warehouses=SIMULATED_WAREHOUSES,
                dispatch_delay_s=0.5,
                delivery_delay_s=0.5,
                return_delay_s=0.5,
                group_id=f"{prefix}warehouse-simulator",
            ),
        )
        try:
            # Everything starts at once (the console shows a service as down until it answers);
            # then both wait: about as long as the slowest, not the sum.
            for name in DEFAULT_SERVICES:
                services.processes[name] = ServiceProcess(
                    name, free_port(), log_dir / f"{name}.log"
                )
                services.processes[name].start(
                    own, {"KAFKA_TOPIC_PREFIX": prefix, "LOG_LEVEL": "INFO"}
                )
            console.env = console_env(services, console.http_port)
            console.start()
            await asyncio.gather(
                asyncio.to_thread(services.wait_until_ready, DEFAULT_SERVICES),
                asyncio.to_thread(console.wait_until_ready),
            )
            async with warehouse:
                yield ConsoleSystem(services, console)
        finally:
            await services.close()
            await asyncio.to_thread(console.stop)
            await asyncio.to_thread(services.stop)


@asynccontextmanager
async def stopped(system: ConsoleSystem, service: str) -> AsyncIterator[None]:
    """``service`` down (SIGKILL, as a crash) for the block, then back as it was."""
    await asyncio.to_thread(system.services.kill, service)
    try:
        yield
    finally:
        await asyncio.to_thread(system.services.restart, service)
