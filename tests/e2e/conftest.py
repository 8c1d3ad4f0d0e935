"""End-to-end fixtures: the four services as separate processes on a private topic prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database

from tests.support.service_harness import unique_prefix
from tests.support.system_harness import RunningSystem


@pytest.fixture(scope="module")
async def running_system(
    orderflow_infrastructure: Infrastructure,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AsyncIterator[RunningSystem]:
    # A database of its own: the system's jobs must not act on rows other tests left. A test
    # module may add to the services' environment (its SERVICE_ENV).
    async with isolated_database(orderflow_infrastructure, "e2e") as own:
        system = RunningSystem(
            own,
            prefix=unique_prefix("e2e"),
            log_dir=Path(tmp_path_factory.mktemp("e2e-logs")),
            service_env={"LOG_LEVEL": "INFO", **getattr(request.module, "SERVICE_ENV", {})},
        )
        try:
            await asyncio.to_thread(system.start)
            yield system
        finally:
            await system.close()
            await asyncio.to_thread(system.stop)


@pytest.fixture(scope="module")
async def warehouse(running_system: RunningSystem) -> AsyncIterator[WarehouseSimulator]:
    """A warehouse system that dispatches, delivers and receives returns within a second."""
    simulator = WarehouseSimulator(
        running_system.infrastructure.kafka_bootstrap_servers,
        topic_prefix=running_system.prefix,
        config=SimulatorConfig(
            dispatch_delay_s=0.2,
            delivery_delay_s=0.3,
            return_delay_s=0.3,
        ),
    )
    async with simulator:
        yield simulator
