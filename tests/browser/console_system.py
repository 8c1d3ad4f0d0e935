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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.storefront import StorefrontSimulator
from orderflow_ops.system import ServiceProcess, wait_until_ready
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
class ConsoleSystem:
    services: RunningSystem
    console: ServiceProcess
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


def console_env(services: RunningSystem) -> dict[str, str]:
    """The console's settings, as `make run` would give them (see the console's README); its
    database, port and broker are set by :class:`ServiceProcess` like any service's."""
    watched = ",".join(f"{name}={process.base_url}" for name, process in services.processes.items())
    users = ",".join(
        f"{who.username}:{role}:{who.password}"
        for who, role in ((OPERATOR, "operator"), (VIEWER, "viewer"))
    )
    return {
        "KAFKA_TOPIC_PREFIX": services.prefix,
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
        console = ServiceProcess(
            "console", free_port(), log_dir / "console.log", module="orderflow_ops.console"
        )
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
            console.start(own, console_env(services))
            await asyncio.gather(
                asyncio.to_thread(services.wait_until_ready, DEFAULT_SERVICES),
                asyncio.to_thread(wait_until_ready, [console], timeout_s=CONSOLE_READY_TIMEOUT_S),
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
