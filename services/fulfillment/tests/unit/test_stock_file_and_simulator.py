"""The packaged stock file, and the simulator's pure parts (return sorting, offsets)."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from orderflow_contracts.events import LineQuantity, ReturnedLine
from orderflow_contracts.uuids import uuid7
from orderflow_fulfillment.adapters.stock_files import read_stock_file
from orderflow_fulfillment.domain.stock_file import StockFile
from orderflow_fulfillment.simulator import (
    SimulatorConfig,
    sort_returned_units,
    tracking_number_for,
)
from orderflow_fulfillment.simulator_progress import Offsets
from pydantic import ValidationError


def test_the_packaged_stock_file_has_an_us_and_an_eu_warehouse_with_catalog_skus() -> None:
    stock = read_stock_file("package:stock.toml")
    by_id = {w.id: w for w in stock.warehouses}
    assert by_id["US-EAST"].country == "US"
    assert by_id["EU-CENTRAL"].country == "DE"
    assert "FR" in by_id["EU-CENTRAL"].near
    assert by_id["EU-CENTRAL"].stock["MB-SPIKY-8CM"] == 80
    assert all(q >= 0 for w in stock.warehouses for q in w.stock.values())


def test_a_stock_file_refuses_bad_skus_negative_figures_and_duplicate_warehouses() -> None:
    with pytest.raises(ValidationError, match=r"warehouses\.0\.stock"):
        StockFile.from_toml('[[warehouses]]\nid="W"\nname="W"\ncountry="DE"\nstock={"bad sku"=1}')
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        StockFile.from_toml('[[warehouses]]\nid="W"\nname="W"\ncountry="DE"\nstock={"A-1"=-1}')
    with pytest.raises(ValidationError, match="unique: W"):
        StockFile.from_toml(
            '[[warehouses]]\nid="W"\nname="W"\ncountry="DE"\n'
            '[[warehouses]]\nid="W"\nname="X"\ncountry="FR"\n'
        )


@pytest.mark.parametrize(
    ("warehouse_id", "name", "sku"),
    [
        ("4111111111111111", "Hub", "A-1"),
        ("W", "Hub 4111 1111 1111 1111", "A-1"),
        ("W", "Hub", "10012345678901"),
    ],
)
def test_a_stock_file_refuses_what_reads_as_a_card_number_without_echoing_it(
    warehouse_id: str, name: str, sku: str
) -> None:
    # Review (helper 108): loaded, every reservation naming it was refused downstream.
    text = f'[[warehouses]]\nid="{warehouse_id}"\nname="{name}"\ncountry="DE"\nstock={{"{sku}"=1}}'
    with pytest.raises(ValidationError, match="reads as a card number") as raised:
        StockFile.from_toml(text)
    assert "4111" not in str(raised.value).split("input_value")[0]


def test_returned_units_split_by_the_damaged_ratio_deterministically_per_rma() -> None:
    rma = uuid.uuid4()
    lines = [LineQuantity(sku="A-1", quantity=40), LineQuantity(sku="B-1", quantity=3)]
    assert sort_returned_units(rma, lines, 0.0) == [
        ReturnedLine(sku="A-1", quantity=40, condition="resellable"),
        ReturnedLine(sku="B-1", quantity=3, condition="resellable"),
    ]
    assert sort_returned_units(rma, lines, 1.0) == [
        ReturnedLine(sku="A-1", quantity=40, condition="damaged"),
        ReturnedLine(sku="B-1", quantity=3, condition="damaged"),
    ]
    half = sort_returned_units(rma, lines, 0.5)
    assert half == sort_returned_units(rma, lines, 0.5)
    assert sum(line.quantity for line in half if line.sku == "A-1") == 40
    assert {line.condition for line in half if line.sku == "A-1"} == {"resellable", "damaged"}


def test_tracking_numbers_are_stable_per_shipment() -> None:
    shipment = uuid.UUID("9b2d7c4e-1f3a-4e5b-8c6d-7e8f9a0b1c2d")
    assert tracking_number_for(shipment) == "SIM7E8F9A0B1C2D"


def test_shipments_made_together_get_different_tracking_numbers() -> None:
    # Shipment ids are time-ordered: an order's shipments share their first twelve digits.
    shipments = [uuid7() for _ in range(50)]
    assert len({tracking_number_for(shipment) for shipment in shipments}) == 50


def test_a_request_offset_is_committed_only_after_its_parcel_is_done() -> None:
    tp, other = TopicPartition("fulfillment", 0), TopicPartition("fulfillment", 1)
    offsets = Offsets()
    for offset in (10, 11, 12):
        offsets.begin(tp, offset)
    offsets.done(tp, 11)
    assert offsets.to_commit({tp}) == {tp: 10}
    offsets.done(tp, 10)
    assert offsets.to_commit({tp}) == {tp: 12}
    offsets.done(tp, 12)
    assert offsets.to_commit({tp}) == {tp: 13}
    offsets.committed[tp] = 13
    assert offsets.to_commit({tp}) == {}
    offsets.begin(other, 4)
    assert offsets.to_commit({tp}) == {}, "partitions no longer assigned are not committed"


def test_simulator_config_is_checked() -> None:
    with pytest.raises(ValueError, match="damaged_ratio"):
        SimulatorConfig(damaged_ratio=1.5)
    with pytest.raises(ValueError, match="negative"):
        SimulatorConfig(dispatch_delay_s=-1)


def test_the_seed_stocks_every_sku_of_the_cart_catalog_when_it_is_there() -> None:
    catalog = Path(__file__).parents[3] / "cart/src/orderflow_cart/data/catalog.csv"
    if not catalog.exists():
        pytest.skip("no cart catalog in this checkout")
    with catalog.open(newline="") as rows:
        catalog_skus = {row["sku"] for row in csv.DictReader(rows)}
    stock = read_stock_file("package:stock.toml")
    by_id = {w.id: w for w in stock.warehouses}
    assert set(by_id["US-EAST"].stock) == catalog_skus
    assert set(by_id["EU-CENTRAL"].stock) == catalog_skus
    assert set(by_id["AP-SOUTHEAST"].stock) <= catalog_skus


def test_the_contracts_examples_name_warehouses_and_skus_fulfillment_stocks() -> None:
    # They named US-1, EU-1 and NS-NIGHT-M: a StockCounted copied from the published examples
    # was dead-lettered unknown_warehouse.
    from orderflow_contracts.examples import example_data, example_types

    stock = read_stock_file("package:stock.toml")
    warehouses = {w.id for w in stock.warehouses}
    skus = {sku for w in stock.warehouses for sku in w.stock}
    named: list[tuple[str, str]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("warehouse_id", "sku") and isinstance(item, str):
                    named.append((key, item))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for event_type in example_types():
        if event_type != "CheckoutRejected":  # its SKU is the unknown one it rejects
            walk(example_data(event_type))
    assert {value for key, value in named if key == "warehouse_id"} <= warehouses
    assert {value for key, value in named if key == "sku"} <= skus
    assert any(key == "warehouse_id" for key, _ in named)
