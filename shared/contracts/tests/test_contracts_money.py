"""Money: strict parsing, canonical form, half-even rounding, no currency mixing, no floats."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal

import pytest
from orderflow_contracts import Currency, CurrencyMismatch, Money, quantize
from pydantic import BaseModel, ValidationError


def parse(amount: object, currency: object = "EUR") -> Money:
    return Money.model_validate({"amount": amount, "currency": currency})


# ----------------------------------------------------------------------------- currencies


def test_the_currencies_the_store_sells_in_are_known_with_their_digits() -> None:
    expected = {
        "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0, "CHF": 2, "SEK": 2,
        "NOK": 2, "DKK": 2, "NZD": 2, "KRW": 0, "KWD": 3, "BHD": 3, "CLP": 0,
    }  # fmt: skip
    for code, digits in expected.items():
        assert Currency.of(code).minor_unit_digits == digits
    assert Currency.JPY.quantum == Decimal("1")
    assert Currency.KWD.quantum == Decimal("0.001")


def test_every_currency_has_a_plausible_minor_unit() -> None:
    assert len(Currency) > 100
    assert all(c.minor_unit_digits in (0, 2, 3) for c in Currency)
    assert all(c.value == c.name and len(c.value) == 3 and c.value.isupper() for c in Currency)


def test_unknown_currency_code() -> None:
    with pytest.raises(ValueError, match="not a known ISO 4217"):
        Currency.of("XYZ")
    with pytest.raises(ValidationError):
        parse("1.00", "XYZ")
    with pytest.raises(ValidationError):
        parse("1.00", "eur")


# ------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("amount", "currency", "canonical"),
    [
        ("12.34", "EUR", "12.34"),
        ("12.3", "EUR", "12.30"),
        ("12", "EUR", "12.00"),
        ("0", "USD", "0.00"),
        ("-0.00", "USD", "0.00"),
        ("-5.10", "USD", "-5.10"),
        ("1200", "JPY", "1200"),
        ("1.234", "KWD", "1.234"),
        ("999999999999999.99", "USD", "999999999999999.99"),
    ],
)
def test_decimal_strings_are_parsed_exactly_and_serialised_canonically(
    amount: str, currency: str, canonical: str
) -> None:
    money = parse(amount, currency)
    assert money.model_dump(mode="json") == {"amount": canonical, "currency": currency}
    assert money.amount == Decimal(amount)
    assert Money.model_validate_json(money.model_dump_json()) == money


def test_json_numbers_are_refused() -> None:
    for document in ('{"amount": 12.34, "currency": "EUR"}', '{"amount": 12, "currency": "EUR"}'):
        with pytest.raises(ValidationError, match="decimal string"):
            Money.model_validate_json(document)


@pytest.mark.parametrize("amount", [12.34, 12, True, None, [], {"value": "1"}])
def test_python_non_decimal_values_are_refused(amount: object) -> None:
    with pytest.raises(ValidationError):
        parse(amount)


@pytest.mark.parametrize(
    "amount",
    ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e3", "1E-2", " 1.00", "1.00 ", "1.", ".5",
     "+1.00", "01.00", "1,00", "", "1_000", "١٢", "1234567890123456", "0x10", "12.34\n",
     "\n12.34"],
)  # fmt: skip
def test_malformed_decimal_strings_are_refused(amount: str) -> None:
    with pytest.raises(ValidationError):
        parse(amount)


def test_more_fractional_digits_than_the_currency_allows_are_refused() -> None:
    with pytest.raises(ValidationError, match="3 fractional digits; EUR allows at most 2"):
        parse("12.345", "EUR")
    with pytest.raises(ValidationError, match="JPY allows at most 0"):
        parse("1200.5", "JPY")
    with pytest.raises(ValidationError, match="JPY allows at most 0"):
        parse("1200.00", "JPY")
    with pytest.raises(ValidationError):
        Money.of(Decimal("0.001"), "USD")


def test_non_finite_decimals_are_refused() -> None:
    for value in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN")):
        with pytest.raises(ValidationError, match="finite"):
            Money.of(value, "EUR")


def test_decimal_trailing_zeros_from_python_are_fine() -> None:
    assert Money.of(Decimal("3.0"), "JPY").model_dump(mode="json")["amount"] == "3"
    assert Money.of(Decimal("1E+2"), "EUR").model_dump(mode="json")["amount"] == "100.00"


def test_money_is_immutable_and_hashable() -> None:
    money = Money.of("1.00", "EUR")
    with pytest.raises(ValidationError):
        money.amount = Decimal("2.00")  # type: ignore[misc]
    assert {money, Money.of("1.0", "EUR")} == {money}


# ---------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "EUR", "0.12"),
        ("0.135", "EUR", "0.14"),
        ("0.1250001", "EUR", "0.13"),
        ("-0.125", "EUR", "-0.12"),
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("151.5", "JPY", "152"),
        ("0.0005", "KWD", "0.000"),
        ("0.0015", "KWD", "0.002"),
    ],
)
def test_rounding_is_half_even_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    assert quantize(Decimal(amount), currency) == Decimal(expected)
    assert Money.rounded(Decimal(amount), currency) == Money.of(expected, currency)


def test_conversion_rounds_half_even_in_the_target_currency() -> None:
    ten_dollars = Money.of("10.00", "USD")
    assert ten_dollars.convert(Decimal("0.9235"), "EUR") == Money.of("9.24", "EUR")  # 9.235
    assert ten_dollars.convert(Decimal("0.9225"), "EUR") == Money.of("9.22", "EUR")  # 9.225
    assert Money.of("0.01", "USD").convert(Decimal("150"), "JPY") == Money.of("2", "JPY")  # 1.5
    assert Money.of("0.03", "USD").convert(Decimal("150"), "JPY") == Money.of("4", "JPY")  # 4.5
    with pytest.raises(ValueError, match="positive"):
        ten_dollars.convert(Decimal("0"), "EUR")


def test_multiplying_by_a_fraction_rounds_half_even() -> None:
    assert Money.of("0.25", "EUR").multiply(Decimal("0.5")) == Money.of("0.12", "EUR")
    assert Money.of("0.75", "EUR").multiply(Decimal("0.5")) == Money.of("0.38", "EUR")


# -------------------------------------------------------------------------- arithmetic


def test_arithmetic_is_exact_within_one_currency() -> None:
    price = Money.of("0.10", "EUR")
    assert price + Money.of("0.20", "EUR") == Money.of("0.30", "EUR")
    assert Money.of("0.30", "EUR") - price == Money.of("0.20", "EUR")
    assert price * 3 == Money.of("0.30", "EUR") == 3 * price
    assert -price == Money.of("-0.10", "EUR")
    assert abs(-price) == price
    assert Money.total([price] * 10, "EUR") == Money.of("1.00", "EUR")
    assert Money.total([], "JPY") == Money.zero("JPY")
    assert price < Money.of("0.11", "EUR") <= Money.of("0.11", "EUR")
    assert Money.of("0.11", "EUR") > price >= price


def test_arithmetic_results_are_canonical_and_bounded_like_any_amount() -> None:
    # Results skip validation (their amounts are whole minor units already): they must still
    # read as a parsed amount would, and be refused past the contract's size.
    euros = Money.of("1.10", "EUR")
    assert (euros - euros).model_dump(mode="json") == {"amount": "0.00", "currency": "EUR"}
    assert (-Money.zero("EUR")).model_dump(mode="json")["amount"] == "0.00"
    assert (Money.of("100", "JPY") * 3).model_dump(mode="json")["amount"] == "300"
    assert str(Money.of("0.1", "KWD") + Money.of("0.2", "KWD")) == "0.300 KWD"
    assert Money.zero("KWD") == Money.of("0.000", "KWD")
    assert Money.from_minor_units(0, "EUR").model_dump(mode="json")["amount"] == "0.00"
    assert str(Money.from_minor_units(-5, "KWD")) == "-0.005 KWD"
    largest = Money.of("999999999999999.99", "EUR")
    assert largest - Money.of("0.99", "EUR") == Money.of("999999999999999", "EUR")
    too_large_results: tuple[Callable[[], Money], ...] = (
        lambda: largest + Money.of("0.01", "EUR"),
        lambda: largest * 2,
        lambda: -largest - Money.of("0.01", "EUR"),
        lambda: Money.from_minor_units(10**17, "EUR"),
    )
    for too_large in too_large_results:
        with pytest.raises(ValidationError, match="at most 15 integer"):
            too_large()


def test_money_built_without_validation_is_what_model_construct_builds() -> None:
    # Decoded amounts and arithmetic results skip pydantic's generic model_construct (a third
    # of the time); if pydantic changes what a constructed model holds, this fails.
    trusted = Money.of("1.10", "EUR") + Money.of("0.20", "EUR")
    constructed = Money.model_construct(amount=Decimal("1.30"), currency=Currency.EUR)
    for attribute in (
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    ):
        assert getattr(trusted, attribute) == getattr(constructed, attribute), attribute
    assert trusted == constructed
    assert hash(trusted) == hash(constructed)
    assert trusted.model_dump_json() == constructed.model_dump_json()
    # model_construct would also run these; Money has neither. And a model holds nothing else.
    assert Money.__pydantic_post_init__ is None
    assert not Money.__pydantic_root_model__
    assert set(BaseModel.__slots__) == {
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    }


def test_a_money_built_without_validation_is_checked_when_a_model_takes_it() -> None:
    unchecked = Money.model_construct(amount=Decimal("1.5"), currency=Currency.EUR)
    assert Money.model_validate(unchecked).amount == Decimal("1.50")
    with pytest.raises(ValidationError, match="whole number of minor units"):
        Money.model_validate(Money.model_construct(amount=Decimal("1.505"), currency=Currency.EUR))


def test_mixing_currencies_is_refused() -> None:
    euros, dollars = Money.of("1.00", "EUR"), Money.of("1.00", "USD")
    for operation in (
        lambda: euros + dollars,
        lambda: euros - dollars,
        lambda: euros < dollars,
        lambda: euros >= dollars,
        lambda: Money.total([euros, dollars], "EUR"),
    ):
        with pytest.raises(CurrencyMismatch, match="cannot combine EUR with USD"):
            operation()
    assert euros != dollars


def test_floats_never_enter() -> None:
    with pytest.raises(TypeError):
        Money.of(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of("1.00", "EUR") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money.of("1.00", "EUR").multiply(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.rounded(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.from_minor_units(1.5, "EUR")  # type: ignore[arg-type]


def test_minor_units() -> None:
    assert Money.from_minor_units(1234, "EUR") == Money.of("12.34", "EUR")
    assert Money.from_minor_units(1234, "JPY") == Money.of("1234", "JPY")
    assert Money.from_minor_units(-5, "KWD") == Money.of("-0.005", "KWD")
    assert Money.of("12.34", "EUR").minor_units == 1234
    assert Money.of("1200", "JPY").minor_units == 1200
    assert Money.zero("USD").minor_units == 0
    assert Money.zero("USD").is_zero
    assert not Money.zero("USD").is_positive


def test_text_form() -> None:
    assert str(Money.of("12.3", "EUR")) == "12.30 EUR"
    assert str(Money.of("5", "JPY")) == "5 JPY"


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "USD"])
def test_amounts_from_the_wire_and_from_python_decide_and_read_alike(currency: str) -> None:
    # Decoding takes a one-pass path for the wire's form; it must accept, refuse and store
    # exactly what the general path (a Decimal from Python, or other shapes) does.
    rng = random.Random(currency)
    texts = ["0", "-0", "-0.00", "0.000", "1", "12.3", "12.30", "12.345", "12.3450", "-7.1"]
    for _ in range(300):
        sign, whole = rng.choice(["", "-"]), rng.randint(0, 10**6)
        texts.append(f"{sign}{whole}.{rng.randint(0, 9999):0{rng.randint(1, 4)}d}")
    digits = Currency.of(currency).minor_unit_digits
    refused = 0
    for text in texts:
        wire = _outcome(Money.model_validate, {"amount": text, "currency": currency})
        # A literal with more digits than the currency is refused on the wire even when they
        # are zeros; a Decimal from Python may carry trailing zeros.
        extra_digits = len(text.partition(".")[2]) > digits
        python = "refused" if extra_digits else _outcome(Money.of, Decimal(text), currency)
        refused += python == "refused"
        assert wire == python, text
        # The same literal given as a Currency member, or in a dict subclass, takes the
        # general path: the same rules apply there.
        as_member = {"amount": text, "currency": Currency.of(currency)}
        assert _outcome(Money.model_validate, as_member) == wire, text
        ordered = OrderedDict(amount=text, currency=currency)
        assert _outcome(Money.model_validate, ordered) == wire, text
    assert 0 < refused < len(texts), "both outcomes must be exercised"


def _outcome(build: Callable[..., Money], *arguments: object) -> str:
    try:
        money = build(*arguments)
    except ValidationError:
        return "refused"
    assert isinstance(money, Money)
    return json.dumps(money.model_dump(mode="json"))
