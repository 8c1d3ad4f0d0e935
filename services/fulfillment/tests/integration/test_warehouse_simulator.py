"""The warehouse simulator against a running fulfillment service, and the service's commands."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.events import (
    FulfillmentRequested,
    LineQuantity,
    OrderCompleted,
    ReturnRestocked,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
)
from orderflow_fulfillment.entrypoints.cli import app
from orderflow_fulfillment.simulator import (
    SimulatorConfig,
    WarehouseSimulator,
    tracking_number_for,
)
from orderflow_localinfra.discovery import Infrastructure
from typer.testing import CliRunner

from services.fulfillment.tests.integration.flow import Flow, new_sku, tag

pytestmark = pytest.mark.integration


def simulator_for(flow: Flow, warehouse_id: str, **config: object) -> WarehouseSimulator:
    values: dict[str, object] = {
        "warehouses": frozenset({warehouse_id}),
        "dispatch_delay_s": 0.1,
        "delivery_delay_s": 0.1,
        "return_delay_s": 0.1,
        "group_id": f"simulator-{tag()}",
    }
    values.update(config)
    return WarehouseSimulator(
        flow.infrastructure.kafka_bootstrap_servers,
        topic_prefix=flow.prefix,
        config=SimulatorConfig(**values),  # type: ignore[arg-type]
    )


async def test_the_simulator_ships_delivers_and_sends_back_returned_parcels(flow: Flow) -> None:
    sku = new_sku("BALL")
    eu = await flow.warehouse("EU", "DE", {sku: 5})
    async with simulator_for(flow, eu, damaged_ratio=1.0) as simulator:
        order_id = await flow.place_order({sku: 2})
        await flow.wait_for(StockReserved, order_id)
        await flow.capture(order_id)
        [request] = await flow.wait_for(FulfillmentRequested, order_id)

        [dispatched] = await flow.wait_for(ShipmentDispatched, order_id)
        assert dispatched.carrier == "SimPost"
        assert dispatched.tracking_number == tracking_number_for(request.shipment_id)
        await flow.wait_for(OrderCompleted, order_id)

        rma_id = await flow.authorize_return(order_id, {sku: 2})
        [restocked] = await flow.wait_for(ReturnRestocked, order_id)

    assert (restocked.rma_id, restocked.warehouse_id) == (rma_id, eu)
    assert restocked.restocked == []
    assert restocked.written_off == [LineQuantity(sku=sku, quantity=2)]  # damaged ratio 1
    assert await flow.level(eu, sku) == (3, 0)
    assert [p.shipment_id for p in simulator.dispatched] == [request.shipment_id]
    assert [p.shipment_id for p in simulator.delivered] == [request.shipment_id]
    assert [p.rma_id for p in simulator.returned] == [rma_id]


async def test_a_restarted_simulator_finishes_its_parcels_and_repeats_nothing(flow: Flow) -> None:
    sku = new_sku("ROLL")
    eu = await flow.warehouse("EU", "DE", {sku: 5})
    group = f"simulator-{tag()}"
    order_id = await flow.place_order({sku: 1})
    await flow.wait_for(StockReserved, order_id)
    await flow.capture(order_id)
    [request] = await flow.wait_for(FulfillmentRequested, order_id)

    slow = simulator_for(flow, eu, group_id=group, delivery_delay_s=3600)
    async with slow:
        await flow.wait_for(ShipmentDispatched, order_id)
    assert slow.delivered == [], "stopped while the parcel was on its way"

    async with simulator_for(flow, eu, group_id=group) as resumed:
        await flow.wait_for(ShipmentDelivered, order_id)
        await flow.wait_for(OrderCompleted, order_id)

    # The resumed simulator re-sent the dispatch with the same event id: dropped as a
    # duplicate by the inbox, so no anomaly and one ShipmentDispatched.
    assert [p.shipment_id for p in resumed.dispatched] == [request.shipment_id]
    assert await flow.anomalies(shipment_id=request.shipment_id) == []
    emitted = await flow.runtime.pool.fetchval(
        "SELECT count(*) FROM fulfillment.outbox "
        "WHERE event_type = 'ShipmentDispatched' AND message_key = $1",
        str(order_id),
    )
    assert emitted == 1


async def test_the_simulator_command_stops_cleanly_on_sigterm(flow: Flow) -> None:
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": flow.infrastructure.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": flow.prefix,
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderflow_fulfillment",
        "warehouse-simulator",
        "--warehouse",
        "NOWHERE-1",  # this module's other requests are not its business
        "--group-id",
        f"simulator-{tag()}",
        stderr=subprocess.PIPE,
        env=environment,
    )
    assert process.stderr is not None
    lines: list[str] = []
    while not any("warehouse_simulator.started" in line for line in lines):
        line = await wait_at_most(60, process.stderr.readline())
        assert line, f"the simulator exited early: {lines}"
        lines.append(line.decode())
    process.send_signal(signal.SIGTERM)
    _, rest = await wait_at_most(60, process.communicate())
    assert process.returncode == 0
    assert "warehouse_simulator.stopped" in "".join(lines) + rest.decode()


def test_stock_commands_load_and_show_figures(orderflow_infrastructure: Infrastructure) -> None:
    warehouse, sku = f"T{tag()}-CLI", new_sku("CLI")
    stock_file = Path(tempfile.mkdtemp()) / "stock.toml"
    stock_file.write_text(
        f'[[warehouses]]\nid = "{warehouse}"\nname = "CLI test"\ncountry = "NL"\n'
        f'near = ["BE"]\n[warehouses.stock]\n{sku} = 17\n'
    )
    runner = CliRunner()
    env = {
        "FULFILLMENT_DATABASE_URL": orderflow_infrastructure.service_database_urls["fulfillment"]
    }

    # Only `migrate` (or the service starting) creates the schema: no command migrates
    # behind an operator's back.
    migrated = runner.invoke(app, ["migrate"], env=env)
    assert migrated.exit_code == 0, migrated.output

    loaded = runner.invoke(app, ["stock", "load", str(stock_file)], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "1 warehouse(s), 1 stock figure(s) set" in loaded.output

    shown = runner.invoke(app, ["stock", "show", "--warehouse", warehouse], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[1].split() == [warehouse, sku, "17", "0", "17", "0"]

    broken = stock_file.with_name("broken.toml")
    broken.write_text('[[warehouses]]\nid = "X"\nname = "X"\ncountry = "Germany"\n')
    refused = runner.invoke(app, ["stock", "load", str(broken)], env=env)
    assert refused.exit_code == 2
    assert "country" in refused.output


def test_the_anomalies_command_prints_recorded_anomalies_as_json_lines(
    orderflow_infrastructure: Infrastructure,
) -> None:
    env = {
        "FULFILLMENT_DATABASE_URL": orderflow_infrastructure.service_database_urls["fulfillment"]
    }
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"], env=env).exit_code == 0

    listed = runner.invoke(app, ["anomalies", "--limit", "3"], env=env)

    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert len(rows) <= 3
    assert all({"reason", "event_type", "detail"} <= row.keys() for row in rows)


async def test_a_request_read_twice_ships_one_parcel(flow: Flow) -> None:
    # A relay that lost its lease may publish a FulfillmentRequested again. Shipping it again
    # after the delivery put the parcel's ParcelDispatched (sequence 1) after its
    # ParcelDelivered (2) on the key, as CI's two-instance test saw.
    sku = new_sku("TWICE")
    eu = await flow.warehouse("EU", "DE", {sku: 5})
    async with simulator_for(flow, eu) as simulator:
        order_id = await flow.place_order({sku: 1})
        await flow.wait_for(StockReserved, order_id)
        await flow.capture(order_id)
        [request] = await flow.wait_for(FulfillmentRequested, order_id)
        await flow.wait_for(OrderCompleted, order_id)

        await flow.publish(request, producer="fulfillment")
        await flow.publish(request, producer="fulfillment")

        async def duplicates() -> list[object]:
            return list(simulator.duplicates)

        await flow.until(duplicates, lambda seen: len(seen) >= 2)

    assert simulator.duplicates == [request.shipment_id] * 2
    assert [p.shipment_id for p in simulator.dispatched] == [request.shipment_id]
    assert [p.shipment_id for p in simulator.delivered] == [request.shipment_id]
