"""``orderflow-fulfillment``: run, migrate, stock show/load, anomalies, warehouse-simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Annotated, Any

import typer
from orderflow_chassis.service_cli import ServiceDatabase, service_cli, with_service_database
from orderflow_chassis.structured_logging import configure_logging
from orderflow_chassis.waiting import run_to_the_end
from orderflow_chassis.wiring import inject

from orderflow_fulfillment.adapters.stock_files import read_stock_file
from orderflow_fulfillment.bootstrap import SERVICE_NAME, build_definition, dependencies
from orderflow_fulfillment.handlers import queries, stock_loads
from orderflow_fulfillment.handlers.stock_loads import LoadReport
from orderflow_fulfillment.ports import StockLevel
from orderflow_fulfillment.settings import FulfillmentSettings

app = service_cli(SERVICE_NAME, build_definition)
stock_app = typer.Typer(no_args_is_help=True, help="Stock per warehouse and SKU.")
app.add_typer(stock_app, name="stock")


def _bound(use_case: Callable[..., Any]) -> Any:
    """``use_case`` with the service's dependencies, as bootstrap binds it."""
    return inject(use_case, dependencies(FulfillmentSettings()))


@stock_app.command("show")
def stock_show(
    sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
    warehouse: Annotated[str | None, typer.Option(help="Only this warehouse.")] = None,
) -> None:
    """Print on-hand, reserved and available units per warehouse and SKU."""
    stock_levels = _bound(queries.stock_levels)

    async def show(database: ServiceDatabase) -> list[StockLevel]:
        async with database.transactions.begin(read_only=True) as uow:
            levels: list[StockLevel] = await stock_levels(sku, warehouse, uow)
        return levels

    levels = with_service_database(SERVICE_NAME, build_definition, show)
    typer.echo(
        f"{'WAREHOUSE':<16} {'SKU':<20} {'ON HAND':>8} {'RESERVED':>9} {'AVAILABLE':>10} "
        f"{'UNFOUND':>8}"
    )
    for level in levels:
        typer.echo(
            f"{level.warehouse_id:<16} {level.sku:<20} {level.on_hand:>8} "
            f"{level.reserved:>9} {level.available:>10} {level.unfound:>8}"
        )


@stock_app.command("load")
def stock_load(
    file: Annotated[str, typer.Argument(help="A stock file (TOML), or package:stock.toml.")],
    only_missing: Annotated[
        bool,
        typer.Option(help="Add unknown warehouses and SKUs only; keep every existing figure."),
    ] = False,
) -> None:
    """Create or update warehouses and set their on-hand figures from FILE.

    A figure below what is reserved is raised to the reserved figure (never oversell).
    """
    try:
        stock_file = read_stock_file(file)
    except (OSError, ValueError) as error:
        typer.echo(f"cannot read {file}: {error}", err=True)
        raise typer.Exit(2) from error
    apply = _bound(stock_loads.add_missing_stock if only_missing else stock_loads.load_stock)

    async def load(database: ServiceDatabase) -> LoadReport:
        async with database.transactions.begin() as uow:
            report: LoadReport = await apply(stock_file, f"load:{file}", uow)
        return report

    report = with_service_database(SERVICE_NAME, build_definition, load)
    typer.echo(
        f"{report.warehouses} warehouse(s), {report.figures_set} stock figure(s) set from {file}"
    )


@app.command("anomalies")
def list_anomalies(
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Print recorded anomalies (unknown shipments, out-of-order reports...) as JSON lines."""
    recorded_anomalies = _bound(queries.recorded_anomalies)

    async def show(database: ServiceDatabase) -> list[dict[str, Any]]:
        async with database.transactions.begin(read_only=True) as uow:
            rows: list[dict[str, Any]] = await recorded_anomalies(reason, limit, uow)
        return rows

    for row in with_service_database(SERVICE_NAME, build_definition, show):
        typer.echo(json.dumps(row, default=str, sort_keys=True))


@app.command("warehouse-simulator")
def warehouse_simulator(
    warehouse: Annotated[
        list[str] | None,
        typer.Option(help="Warehouse id to play (repeatable); default: every warehouse."),
    ] = None,
    dispatch_delay_s: Annotated[
        float, typer.Option(min=0, envvar="SIMULATOR_DISPATCH_DELAY_S")
    ] = 2.0,
    delivery_delay_s: Annotated[
        float, typer.Option(min=0, envvar="SIMULATOR_DELIVERY_DELAY_S")
    ] = 5.0,
    return_delay_s: Annotated[float, typer.Option(min=0, envvar="SIMULATOR_RETURN_DELAY_S")] = 3.0,
    damaged_ratio: Annotated[
        float, typer.Option(min=0, max=1, envvar="SIMULATOR_DAMAGED_RATIO")
    ] = 0.1,
    receive_returns: Annotated[
        bool, typer.Option(help="Send back a parcel for each ReturnAuthorized.")
    ] = True,
    default_return_warehouse: Annotated[
        str | None, typer.Option(help="Where returns of orders it did not ship go.")
    ] = "EU-CENTRAL",
    carrier: Annotated[str, typer.Option()] = "SimPost",
    group_id: Annotated[
        str | None,
        typer.Option(
            help="Kafka consumer group; default: orderflow.warehouse-simulator, plus the "
            "warehouses played (simulators of different warehouses must not share one)."
        ),
    ] = None,
) -> None:
    """Play a warehouse system over Kafka (public contract only) until SIGINT/SIGTERM.

    Reads KAFKA_BOOTSTRAP_SERVERS and KAFKA_TOPIC_PREFIX like the services.
    """
    # Imported here: the production image leaves the simulator out (deploy/container).
    from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator

    configure_logging("warehouse-simulator", level=os.environ.get("LOG_LEVEL", "INFO"))
    config = SimulatorConfig(
        warehouses=frozenset(warehouse or ()),
        dispatch_delay_s=dispatch_delay_s,
        delivery_delay_s=delivery_delay_s,
        receive_returns=receive_returns,
        return_delay_s=return_delay_s,
        damaged_ratio=damaged_ratio,
        default_return_warehouse=default_return_warehouse,
        carrier=carrier,
        group_id=group_id,
    )
    simulator = WarehouseSimulator(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
        topic_prefix=os.environ.get("KAFKA_TOPIC_PREFIX", ""),
        config=config,
    )
    run_to_the_end(simulator.run_until_stopped(), left_running=lambda: simulator.tasks_left_running)
