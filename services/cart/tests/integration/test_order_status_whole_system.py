"""Order status with the whole system running: the four services as processes (free ports,
their own database and topic prefix), a simulated warehouse, and a storefront (this test) that
checks out, follows the order live and returns one unit, reading only the cart's API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from orderflow_contracts.events import LineQuantity, ReturnRequested
from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database

from services.cart.tests.integration.order_status_client import (
    API_TOKEN,
    AUTH,
    StatusFeed,
    collapsed,
    order_when,
)
from tests.support.service_harness import unique_prefix
from tests.support.storefront_actions import check_out, make_available
from tests.support.system_harness import RunningSystem

pytestmark = pytest.mark.integration

JOURNEY = ["placed", "paid", "shipped", "delivered", "completed", "partially_refunded"]


@pytest.fixture(scope="module")
async def system(
    orderflow_infrastructure: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningSystem]:
    async with isolated_database(orderflow_infrastructure, "status") as own:
        running = RunningSystem(
            own,
            prefix=unique_prefix("status"),
            log_dir=Path(tmp_path_factory.mktemp("status-logs")),
            service_env={"CART_STOREFRONT_API_TOKEN": API_TOKEN},
        )
        try:
            await asyncio.to_thread(running.start)
            simulator = WarehouseSimulator(
                own.kafka_bootstrap_servers,
                topic_prefix=running.prefix,
                config=SimulatorConfig(
                    dispatch_delay_s=0.5, delivery_delay_s=0.5, return_delay_s=0.3
                ),
            )
            async with simulator:
                yield running
        finally:
            await running.close()
            await asyncio.to_thread(running.stop)


async def test_a_storefront_follows_an_order_from_checkout_to_its_refund(
    system: RunningSystem,
) -> None:
    await make_available(system, "MB-SPIKY-8CM", {"EU-CENTRAL": 10})
    cart_id = await check_out(system, [("MB-SPIKY-8CM", 3)], currency="EUR", country="DE")
    async with httpx.AsyncClient(base_url=system.processes["cart"].base_url) as http:
        placed = await order_when(http, f"/carts/{cart_id}/order", lambda body: True)
        order_id = uuid.UUID(placed["order_id"])
        async with StatusFeed(http, order_id) as feed:
            await feed.wait_for_state("completed")
            await system.publish(
                [
                    ReturnRequested(
                        order_id=order_id,
                        return_request_id="ret-whole-system",
                        lines=[LineQuantity(sku="MB-SPIKY-8CM", quantity=1)],
                        reason="Too firm for me",
                    )
                ]
            )
            refunded = await feed.wait_for_state("partially_refunded")

        states = collapsed(feed.states)
        # The feed may fold changes applied together, never reorder them.
        assert states == [state for state in JOURNEY if state in states]
        assert states[-1] == "partially_refunded"
        answer = await http.get(f"/orders/{order_id}", headers=AUTH)
        assert answer.json()["position"]["version"] >= refunded["position"]["version"]

    (rma,) = refunded["returns"]
    assert (rma["return_request_id"], rma["status"]) == ("ret-whole-system", "refunded")
    unit_price = refunded["lines"][0]["unit_price"]
    assert refunded["amounts"]["refunded"] == unit_price  # one unit, shipping kept
    (shipment,) = refunded["shipments"]
    assert shipment["warehouse_id"] == "EU-CENTRAL"
    assert shipment["tracking_number"]
    assert refunded["lines"][0]["warranty_country"] == "DE"
    assert refunded["lines"][0]["warranty_ends_on"] is not None
    assert refunded["return_window_ends_on"] is not None
