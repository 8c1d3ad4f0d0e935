"""The ops views' filters: a value nothing can match is a 422, not an empty 200."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from orderflow_fulfillment.entrypoints.http import fulfillment_router

from services.fulfillment.tests.fakes import FakeFulfillment


def app(asked: list[tuple[Any, ...]]) -> FastAPI:
    async def stock_levels(sku: str | None, warehouse: str | None, _: Any) -> list[Any]:
        asked.append(("stock", sku, warehouse))
        return []

    async def order(*_: Any) -> None:
        return None

    async def anomalies(reason: str | None, limit: int, _: Any) -> list[Any]:
        asked.append(("anomalies", reason, limit))
        return []

    api = FastAPI()
    api.include_router(
        fulfillment_router(
            stock_levels_query=stock_levels, order_query=order, anomalies_query=anomalies
        )
    )
    api.state.resources = SimpleNamespace(transactions=FakeFulfillment().transactions)
    return api


async def get(path: str, asked: list[tuple[Any, ...]]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(asked))
    async with httpx.AsyncClient(transport=transport, base_url="http://fulfillment") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    ("path", "asked"),
    [
        ("/stock?sku=&warehouse=", ("stock", None, None)),  # as the README writes it
        ("/stock?sku=SKU-42&warehouse=EU-CENTRAL", ("stock", "SKU-42", "EU-CENTRAL")),
        ("/anomalies?reason=", ("anomalies", None, 100)),
        ("/anomalies?reason=clock_behind&limit=5", ("anomalies", "clock_behind", 5)),
    ],
)
async def test_empty_filters_are_no_filter_and_good_ones_are_passed_on(
    path: str, asked: tuple[Any, ...]
) -> None:
    seen: list[tuple[Any, ...]] = []
    answer = await get(path, seen)
    assert answer.status_code == 200, answer.text
    assert seen == [asked]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/stock?sku=sku-42", "sku is not a SKU"),  # lower case: no SKU is
        ("/stock?warehouse=%20EU", "warehouse is not a warehouse id"),
        ("/anomalies?reason=nonsense", "reason is not an anomaly reason"),
    ],
)
async def test_a_filter_nothing_can_match_is_refused_with_why(path: str, words: str) -> None:
    # Each answered 200 []: a client could not tell "nothing in stock" from a bad query.
    seen: list[tuple[Any, ...]] = []
    answer = await get(path, seen)
    assert answer.status_code == 422
    assert words in answer.json()["detail"]
    assert seen == []
