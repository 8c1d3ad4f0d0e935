"""Warehouse input never invents a product: counts and returned parcels naming a SKU that no
warehouse stocks are recorded as ``unknown_sku`` anomalies, and no stock row appears."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from orderflow_contracts.events import LineQuantity, ReturnRestocked

from services.fulfillment.tests.integration.flow import Flow, new_sku

pytestmark = pytest.mark.integration


async def stock_rows(flow: Flow, sku: str) -> list[tuple[str, int]]:
    rows = await flow.runtime.pool.fetch(
        "SELECT warehouse_id, on_hand FROM fulfillment.stock WHERE sku = $1 ORDER BY 1", sku
    )
    return [(r["warehouse_id"], r["on_hand"]) for r in rows]


async def test_a_count_of_a_sku_no_warehouse_stocks_is_an_anomaly_not_a_new_stock_row(
    flow: Flow,
) -> None:
    known, typo = new_sku("KNOWN"), new_sku("TYPO")
    eu = await flow.warehouse("EU", "DE", {known: 5})
    us = await flow.warehouse("US", "US", {})

    await flow.count(eu, typo, 40, at=datetime.now(UTC))
    [anomaly] = await flow.until(lambda: flow.anomalies(sku=typo), bool)

    assert (anomaly["reason"], anomaly["warehouse_id"]) == ("unknown_sku", eu)
    assert anomaly["detail"]["counted"] == 40
    assert await stock_rows(flow, typo) == []

    # A SKU another warehouse stocks is a real product now on this shelf: the count applies.
    await flow.count(us, known, 7, at=datetime.now(UTC))
    found = await flow.until(lambda: stock_rows(flow, known), lambda rows: len(rows) == 2)
    assert sorted(found) == sorted([(eu, 5), (us, 7)])
    assert await flow.anomalies(sku=known) == []


async def test_returned_units_of_an_unknown_sku_are_written_off_and_reported(flow: Flow) -> None:
    known, stranger = new_sku("SHOE"), new_sku("STRANGER")
    eu = await flow.warehouse("EU", "DE", {known: 3})
    order_id = await flow.place_order({known: 1})
    rma_id = await flow.authorize_return(order_id, {known: 1})

    await flow.return_parcel(rma_id, eu, [(known, 1, "resellable"), (stranger, 2, "resellable")])
    [restocked] = await flow.wait_for(ReturnRestocked, order_id)

    assert restocked.restocked == [LineQuantity(sku=known, quantity=1)]
    assert restocked.written_off == [LineQuantity(sku=stranger, quantity=2)]
    [anomaly] = await flow.anomalies(rma_id=rma_id, reason="unknown_sku")
    assert anomaly["detail"]["skus"] == [stranger]
    assert await stock_rows(flow, stranger) == []
    assert isinstance(anomaly["rma_id"], uuid.UUID)
