"""Seeding and loading the reference data, and the read queries, on in-memory repositories."""

from __future__ import annotations

from decimal import Decimal

import pytest
from orderflow_cart.adapters.reference_data import SeedFiles
from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.checkout import CheckoutRules
from orderflow_cart.handlers import catalog_admin, queries
from orderflow_cart.handlers.cart_events import receive_cart_event
from orderflow_cart.handlers.reference_data import ReferenceData, seed_reference_data
from orderflow_contracts.currencies import Currency

from services.cart.tests.fakes import fake_transactions
from services.cart.tests.unit.handlers.cart_journeys import (
    Storefront,
    add,
    cart_rules,
    checkout,
    clock,
    deps,
)


def rules() -> CheckoutRules:
    return cart_rules(deps()).checkout


async def test_seeding_fills_empty_tables_once_and_then_stops_checking() -> None:
    tx = fake_transactions(clock(), seeded=False)
    reference_data = ReferenceData(SeedFiles())
    await seed_reference_data(tx, reference_data=reference_data)
    assert reference_data.seeded
    assert len(tx.repos.catalog.products) > 5
    assert not await tx.repos.rates.is_empty()

    tx.repos.catalog.products.clear()
    await seed_reference_data(tx, reference_data=reference_data)
    assert tx.repos.catalog.products == {}, "a committed seed is not checked again"


async def test_a_failed_seed_is_not_remembered() -> None:
    tx = fake_transactions(clock(), seeded=False)
    reference_data = ReferenceData(SeedFiles())

    async def broken_rates(*_: object) -> None:
        raise ConnectionResetError("the database went away")

    tx.repos.rates.replace = broken_rates  # type: ignore[method-assign,assignment]
    with pytest.raises(ConnectionResetError):
        await seed_reference_data(tx, reference_data=reference_data)
    assert not reference_data.seeded
    assert tx.repos.catalog.products == {}, "the unit of work rolled the catalog back"


async def test_loading_a_catalog_withdraws_what_it_leaves_out() -> None:
    tx = fake_transactions(clock())
    async with tx.begin() as uow:
        summary = await catalog_admin.load_catalog(
            [Product("MB-PEANUT", "Peanut massage ball", Decimal("13.50"))], uow
        )
    assert summary.repriced == ["MB-PEANUT"]
    assert "FR-WOOD-ROLLER" in summary.withdrawn
    async with tx.begin(read_only=True) as uow:
        on_sale = await catalog_admin.list_catalog(uow)
        everything = await catalog_admin.list_catalog(uow, withdrawn_too=True)
    assert [entry.product.sku for entry in on_sale] == ["MB-PEANUT"]
    assert len(everything) > len(on_sale)


async def test_a_cart_view_prices_open_carts_and_shows_checked_out_ones_as_ordered() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    bound = cart_rules(deps())
    for event in (add("c-40", "MB-PEANUT", 2), add("c-41", "FR-WOOD-ROLLER", 3), checkout("c-41")):
        envelope = shop.envelope(event)
        await receive_cart_event(event, tx.unit(cause=envelope), cart_rules=bound)
    async with tx.begin(read_only=True) as uow:
        open_cart = await queries.view_cart("c-40", uow, rules=rules())
        ordered = await queries.view_cart("c-41", uow, rules=rules())
        missing = await queries.view_cart("c-nope", uow, rules=rules())
    assert isinstance(open_cart, queries.OpenCart)
    assert open_cart.priced is not None
    assert open_cart.priced.subtotal.amount == Decimal("25.90")
    assert not open_cart.priced.free_shipping
    assert isinstance(ordered, queries.CheckedOutCart)
    assert ordered.order["total"]["amount"] == "63.00"
    assert "provider_token" not in ordered.order["payment"]
    assert missing is None


async def test_a_sold_currency_without_a_rate_is_refused_as_such_and_not_offered() -> None:
    # "we do not sell in GBP; choose one of AUD, CAD, EUR, GBP, ...": the answer offered the
    # currency it had just refused.
    tx = fake_transactions(clock())
    del tx.repos.rates.rates[Currency.GBP]
    async with tx.begin(read_only=True) as uow:
        pounds = await queries.catalog_in("GBP", uow, rules=rules())
        francs = await queries.catalog_in("CHF", uow, rules=rules())
    assert isinstance(pounds, queries.NotSoldIn)
    assert isinstance(francs, queries.NotSoldIn)
    assert pounds.message.startswith("no current exchange rate for GBP; choose one of ")
    assert francs.message.startswith("we do not sell in CHF; choose one of ")
    assert "GBP" not in pounds.sold + francs.sold
    assert "EUR" in pounds.sold


async def test_the_catalog_is_priced_in_a_sold_currency_and_refused_in_another() -> None:
    tx = fake_transactions(clock())
    async with tx.begin(read_only=True) as uow:
        euros = await queries.catalog_in("EUR", uow, rules=rules())
        unsold = await queries.catalog_in("XAU", uow, rules=rules())
        default = await queries.catalog_in(None, uow, rules=rules())
    assert isinstance(euros, queries.PricedCatalog)
    assert euros.fx.currency.value == "EUR"
    assert isinstance(unsold, queries.NotSoldIn)
    assert "EUR" in unsold.sold
    assert isinstance(default, queries.PricedCatalog)
    assert default.currency == "USD"
