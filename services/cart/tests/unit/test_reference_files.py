"""The catalog and rates files, and the cart settings that parse lists."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from orderflow_cart.adapters.orders import stored_snapshot
from orderflow_cart.adapters.reference_data import packaged_file
from orderflow_cart.domain.catalog import CatalogFileError, parse_catalog_csv
from orderflow_cart.domain.rates import RatesFileError, parse_rates_json
from orderflow_cart.settings import CartSettings, parse_countries, parse_fees
from orderflow_contracts.events import OrderPlaced
from orderflow_contracts.examples import example_event
from orderflow_contracts.money import Currency


def test_the_packaged_catalog_parses_with_exact_prices() -> None:
    products = {p.sku: p for p in parse_catalog_csv(packaged_file("catalog.csv"))}
    assert len(products) == 14
    assert products["MB-SPIKY-8CM"].price_usd == Decimal("9.95")
    assert products["FR-WOOD-ROLLER"].price_usd == Decimal("21.00")
    assert products["NS-ADJ-M"].name == "Adjustable night splint M"


def test_catalog_problems_are_all_reported_with_line_numbers() -> None:
    text = (
        "sku,name,price_usd\n"
        "MB-PEANUT,Peanut ball,12.95\n"
        "mb-bad,Lower case,1.00\n"
        "MB-PEANUT,Twice,1.00\n"
        "NS-1,,2.00\n"
        "NS-2,Float-ish,1e3\n"
        "NS-3,Too precise,1.005\n"
        "NS-4,Free,0\n"
    )
    with pytest.raises(CatalogFileError) as raised:
        parse_catalog_csv(text)
    assert [problem.split(":")[0] for problem in raised.value.problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]


def test_a_catalog_needs_its_header() -> None:
    with pytest.raises(CatalogFileError, match="header must be sku,name,price_usd"):
        parse_catalog_csv("sku,price\nA-1,1.00\n")


def test_the_packaged_rates_parse_with_their_source_and_time() -> None:
    rates = {r.currency: r for r in parse_rates_json(packaged_file("rates.json"))}
    assert set(rates) == {
        Currency.USD,
        Currency.EUR,
        Currency.GBP,
        Currency.CAD,
        Currency.AUD,
        Currency.JPY,
    }
    assert rates[Currency.EUR].rate == Decimal("0.9235")
    assert rates[Currency.JPY].rate == Decimal("151.37")
    assert rates[Currency.EUR].source == "seed-file"
    assert rates[Currency.EUR].as_of.isoformat() == "2025-06-02T16:00:00+00:00"


def test_usd_is_added_with_rate_one() -> None:
    rates = parse_rates_json(
        '{"source": "ecb", "as_of": "2025-06-02T16:00:00Z", "rates": {"EUR": "0.9"}}'
    )
    assert [(r.currency.value, r.rate) for r in rates] == [("EUR", Decimal("0.9")), ("USD", 1)]


def test_rates_as_json_numbers_are_refused() -> None:
    with pytest.raises(RatesFileError, match="decimal strings"):
        parse_rates_json('{"source": "x", "as_of": "2025-06-02T16:00:00Z", "rates": {"EUR": 0.9}}')


def test_every_rates_problem_is_reported() -> None:
    with pytest.raises(RatesFileError) as raised:
        parse_rates_json(
            '{"base": "EUR", "source": "", "as_of": "yesterday",'
            ' "rates": {"XXX": "1", "EUR": "-1", "USD": "2"}}'
        )
    assert len(raised.value.problems) == 6


def test_a_catalog_line_whose_sku_or_name_reads_as_a_card_number_is_refused() -> None:
    # Found by review (helper 106): loaded, such a product could never be added to a cart
    # (the events carrying it are refused as card data), and an order naming it was refused
    # by every service that read it: never authorised, reserved nor cancelled.
    text = (
        "sku,name,price_usd\n"
        "10012345678901,Gel insoles,9.90\n"
        "INS-GEL-M,Gel insoles M GTIN 10012345678901,9.90\n"
        "INS-GEL-L,Gel insoles L,9.90\n"
    )
    with pytest.raises(CatalogFileError) as raised:
        parse_catalog_csv(text)
    assert [problem.split(":")[0] for problem in raised.value.problems] == ["line 2", "line 3"]
    assert "10012345678901" not in str(raised.value)


@pytest.mark.parametrize(
    "as_of", ["0225-06-03T16:00:00Z", "1969-12-31T23:00:00Z", "9999-01-01T00:00:00Z"]
)
def test_rates_stamped_outside_the_contracts_times_are_refused(as_of: str) -> None:
    # Loaded, every order's rate snapshot broke the contract: each checkout was retried, then
    # dead-lettered unanswered, and the cart and catalog pages answered 500.
    with pytest.raises(RatesFileError, match="between 1970 and 8999"):
        parse_rates_json(f'{{"source": "ecb", "as_of": "{as_of}", "rates": {{"EUR": "0.9"}}}}')


def test_a_rates_source_that_reads_as_a_card_number_is_refused() -> None:
    # Review (helper 108): every order carries it (fx.source) and was refused downstream.
    with pytest.raises(RatesFileError, match="reads as a card number"):
        parse_rates_json(
            '{"source": "ecb 4111 1111 1111 1111", "as_of": "2025-06-02T16:00:00Z",'
            ' "rates": {"EUR": "0.9"}}'
        )


def test_shipping_fee_and_country_settings() -> None:
    assert parse_fees("usd=4.95, JPY=700") == {"USD": "4.95", "JPY": "700"}
    with pytest.raises(ValueError, match=r"JPY=7\.5"):
        parse_fees("JPY=7.5")
    assert parse_countries("*") is None
    assert parse_countries("us, de") == frozenset({"US", "DE"})
    with pytest.raises(ValueError, match="UK"):
        parse_countries("UK,DE")
    rules = CartSettings(
        shipping_fees="USD=1.00,EUR=2.00", shipping_countries="DE"
    ).checkout_rules()
    assert rules.shipping.currencies == frozenset({Currency.USD, Currency.EUR})
    assert rules.shipping_countries == frozenset({"DE"})


def test_the_default_settings_sell_in_six_currencies_worldwide() -> None:
    rules = CartSettings().checkout_rules()
    assert {c.value: str(m.amount) for c, m in rules.shipping.flat_fees.items()} == {
        "USD": "4.95",
        "EUR": "4.95",
        "GBP": "3.95",
        "CAD": "6.95",
        "AUD": "7.95",
        "JPY": "700",
    }
    assert rules.shipping_countries is None
    assert rules.shipping.free_above_usd == Decimal("50.00")


def test_the_stored_order_snapshot_keeps_no_payment_token() -> None:
    placed = example_event("OrderPlaced")
    assert isinstance(placed, OrderPlaced)
    snapshot = stored_snapshot(placed)
    assert "provider_token" not in snapshot["payment"]
    assert snapshot["payment"]["provider_token_ending"] == placed.payment.provider_token[-4:]
    assert placed.payment.provider_token not in json.dumps(snapshot)
