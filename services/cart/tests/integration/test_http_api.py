"""The storefront's read API, over HTTP against the running service."""

from __future__ import annotations

import pytest

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.storefront import add, currency, new_cart_id

pytestmark = pytest.mark.integration


def money(amount: str, code: str) -> dict[str, str]:
    return {"amount": amount, "currency": code}


async def test_a_cart_is_priced_in_its_currency_with_what_free_shipping_needs(
    cart_service: RunningCart,
) -> None:
    cart_id = new_cart_id("api")
    await cart_service.storefront.send(
        add(cart_id, "MB-SPIKY-8CM", 2), add(cart_id, "XX-NOT-SOLD"), currency(cart_id, "EUR")
    )
    view = await cart_service.cart_when(cart_id, lambda v: v["currency"] == "EUR")

    assert view["status"] == "open"
    assert view["lines"] == [
        {
            "sku": "MB-SPIKY-8CM",
            "quantity": 2,
            "on_sale": True,
            "name": "Spiky massage ball 8 cm",
            "unit_price": money("9.19", "EUR"),
            "line_total": money("18.38", "EUR"),
        },
        {
            "sku": "XX-NOT-SOLD",
            "quantity": 1,
            "on_sale": False,
            "name": None,
            "unit_price": None,
            "line_total": None,
        },
    ]
    assert view["subtotal"] == money("18.38", "EUR")
    assert view["subtotal_usd"] == money("19.90", "USD")  # 18.38 / 0.9235 = 19.9025...
    assert view["shipping_fee"] == money("4.95", "EUR")
    assert view["free_shipping"] is False
    # The first EUR subtotal worth more than 50.00 USD is 46.18 (46.18 / 0.9235 = 50.0054).
    assert view["free_shipping_missing"] == money("27.80", "EUR")
    assert view["total"] == money("23.33", "EUR")
    assert view["fx"] == {
        "base_currency": "USD",
        "quote_currency": "EUR",
        "rate": "0.9235",
        "as_of": "2025-06-02T16:00:00Z",
        "source": "seed-file",
    }
    assert [(p["code"], p["sku"]) for p in view["problems"]] == [("unknown_sku", "XX-NOT-SOLD")]
    assert (view["order_id"], view["events_waiting"]) == (None, 0)


async def test_a_cart_without_a_currency_is_in_usd_and_an_unsold_one_has_no_amounts(
    cart_service: RunningCart,
) -> None:
    usd_id, chf_id = new_cart_id("usd"), new_cart_id("chf")
    await cart_service.storefront.send(
        add(usd_id, "NS-ADJ-L", 2), add(chf_id, "NS-ADJ-L"), currency(chf_id, "CHF")
    )
    usd = await cart_service.cart_when(usd_id, lambda v: bool(v["lines"]))
    assert (usd["currency"], usd["subtotal"], usd["shipping_fee"], usd["total"]) == (
        "USD",
        money("69.98", "USD"),
        money("0.00", "USD"),
        money("69.98", "USD"),
    )
    assert (usd["free_shipping"], usd["free_shipping_missing"]) == (True, money("0.00", "USD"))

    chf = await cart_service.cart_when(chf_id, lambda v: v["currency"] == "CHF")
    assert [chf[k] for k in ("subtotal", "shipping_fee", "total", "fx")] == [None] * 4
    assert chf["lines"][0]["name"] == "Adjustable night splint L"
    assert [p["code"] for p in chf["problems"]] == ["unsupported_currency"]
    assert chf["problems"][0]["message"] == (
        "we do not sell in CHF; choose one of AUD, CAD, EUR, GBP, JPY, USD"
    )


async def test_an_unknown_cart_is_a_404_with_a_message(cart_service: RunningCart) -> None:
    response = await cart_service.http.get("/carts/never-seen-cart")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "no cart 'never-seen-cart': no event for it has reached the cart service"
    }
    response = await cart_service.http.get("/carts/never-seen-cart/unapplied-events")
    assert response.status_code == 404


@pytest.mark.parametrize("bad_id", ["bad$id", "-leading-dash", "x" * 129])
async def test_an_invalid_cart_id_is_a_422(cart_service: RunningCart, bad_id: str) -> None:
    response = await cart_service.http.get(f"/carts/{bad_id}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["path", "cart_id"], "string_pattern_mismatch")


async def test_the_catalog_is_priced_in_a_sold_currency(cart_service: RunningCart) -> None:
    response = await cart_service.http.get("/catalog", params={"currency": "JPY"})
    assert response.status_code == 200
    catalog = response.json()
    prices = {item["sku"]: item["price"] for item in catalog["products"]}
    assert prices["MB-SPIKY-8CM"] == money("1506", "JPY")  # 9.95 x 151.37 = 1506.1315
    assert prices["FR-WOOD-ROLLER"] == money("3179", "JPY")  # 21.00 x 151.37 = 3178.77
    assert catalog["fx"]["rate"] == "151.37"

    unsold = await cart_service.http.get("/catalog", params={"currency": "CHF"})
    assert unsold.status_code == 422
    assert unsold.json()["detail"].startswith("we do not sell in CHF")
    # As a currency selected in an event: any case, read upper case (it was a 422).
    lower = await cart_service.http.get("/catalog", params={"currency": "eur"})
    assert lower.status_code == 200
    assert lower.json()["currency"] == "EUR"
    assert (await cart_service.http.get("/catalog", params={"currency": "eu1"})).status_code == 422


async def test_the_api_is_documented(cart_service: RunningCart) -> None:
    docs = await cart_service.http.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    spec = (await cart_service.http.get("/openapi.json")).json()
    assert {"/carts/{cart_id}", "/carts/{cart_id}/unapplied-events", "/catalog"} <= set(
        spec["paths"]
    )
    get_cart = spec["paths"]["/carts/{cart_id}"]["get"]
    assert {"200", "404", "422"} <= set(get_cart["responses"])
