"""A service that stops on its own (a task crashed, its consumer group refused it) exits
non-zero, saying why, so that a supervisor restarting only on failure restarts it; one asked
to stop exits 0."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from orderflow_chassis import service_cli
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from typer.testing import CliRunner


def definition(_: ServiceSettings) -> ServiceDefinition:
    return ServiceDefinition(name="cart")


def runtime() -> ServiceRuntime:
    settings = ServiceSettings.for_service(
        "cart", database_url="postgresql://orderflow_cart:pw@127.0.0.1:9/none"
    )
    return ServiceRuntime(definition(settings), settings)


async def test_a_crashed_task_stops_the_service_as_a_failure() -> None:
    service = runtime()

    async def crash() -> None:
        raise KeyError("a bug")

    service._spawn(crash(), "outbox-relay")
    await asyncio.gather(*service._tasks)
    assert service.failure == "its task outbox-relay crashed"
    assert service._stopped.is_set()


async def test_a_refusal_by_its_group_stops_the_service_as_a_failure() -> None:
    service = runtime()
    service._group_refused("orderflow.cart.events")
    service._group_refused("orderflow.cart.order-status")
    assert service.failure is not None
    assert service.failure.startswith("consumer group orderflow.cart.events: Kafka refused")
    assert service._stopped.is_set()


def test_asked_to_stop_it_exits_0() -> None:
    assert request_stop_or_fail(None) == (0, "")


def test_stopped_on_its_own_it_exits_1_saying_why() -> None:
    code, output = request_stop_or_fail("its task outbox-relay crashed")
    assert code == 1
    assert "orderflow-cart: stopped: its task outbox-relay crashed" in output


def request_stop_or_fail(failure: str | None) -> tuple[int, str]:
    class Stops:
        def __init__(self, *_: Any) -> None:
            self.tasks_left_running: list[str] = []
            self.failure: str | None = None

        async def run_until_stopped(self) -> None:
            self.failure = failure

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service_cli, "ServiceRuntime", Stops)
        patch.setenv("CART_DATABASE_URL", "postgresql://orderflow_cart:pw@127.0.0.1:9/none")
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "ORDERFLOW_ENV"):
            patch.delenv(name, raising=False)
        result = CliRunner().invoke(service_cli.service_cli("cart", definition), ["run"])
    return result.exit_code, result.output


async def test_a_task_failing_while_the_service_stops_as_asked_is_no_failure() -> None:
    service = runtime()
    service.request_stop()

    async def crash() -> None:
        raise ConnectionError("the pool closed under it")

    service._spawn(crash(), "inbox-purge")
    await asyncio.gather(*service._tasks)
    assert service.failure is None
