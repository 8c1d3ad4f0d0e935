"""Exchange rates: how many units of a currency one US dollar buys, with where and when from.

Rates are read from a JSON file (seeded from the package's ``data/rates.json``, replaced with
``orderflow-cart rates load FILE``; a live feed can later write the same table)::

    {"base": "USD", "source": "ecb-daily", "as_of": "2025-06-02T16:00:00Z",
     "rates": {"EUR": "0.9235", "GBP": "0.7890", "JPY": "151.37"}}

Rates are decimal strings (a JSON number is refused: it would pass through a float). USD itself
is always 1 and is added when the file leaves it out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from orderflow_contracts.card_data import contains_card_number
from orderflow_contracts.events import FxSnapshot
from orderflow_contracts.money import Currency
from orderflow_contracts.primitives import EARLIEST_INSTANT, LATEST_INSTANT

BASE_CURRENCY: Final = Currency.USD
_RATE: Final = re.compile(r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,12})?$")  # the contract's Rate
_SOURCE: Final = re.compile(r"^\S(?:.{0,198}\S)?$")


@dataclass(frozen=True)
class FxRate:
    """1 USD = ``rate`` ``currency``, published by ``source`` at ``as_of``."""

    currency: Currency
    rate: Decimal
    as_of: datetime
    source: str

    def snapshot(self) -> FxSnapshot:
        """What an order records about the rate it was priced with."""
        return FxSnapshot(
            base_currency=BASE_CURRENCY,
            quote_currency=self.currency,
            rate=self.rate,
            as_of=self.as_of,
            source=self.source,
        )


class RatesFileError(ValueError):
    """The rates file breaks a rule; ``problems`` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _no_floats(text: str) -> Any:
    raise RatesFileError([f"rates must be decimal strings, not JSON numbers ({text})"])


def parse_rates_json(text: str) -> list[FxRate]:
    """Rates from the JSON document described in the module docstring; every problem at once."""
    try:
        document = json.loads(text, parse_float=_no_floats, parse_int=_no_floats)
    except json.JSONDecodeError as error:
        raise RatesFileError([f"not JSON: {error.msg} at line {error.lineno}"]) from None
    if not isinstance(document, dict):
        raise RatesFileError(["the rates file must be a JSON object"])
    problems: list[str] = []
    if document.get("base", "USD") != "USD":
        problems.append("base must be USD: catalog prices and the free-shipping rule are in USD")
    source = document.get("source")
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        problems.append("source must name where the rates come from (1-200 characters)")
    elif contains_card_number(source):
        # Every order carries it (fx.source): every service would refuse those orders.
        problems.append("source holds a digit run that reads as a card number")
    as_of = _parse_as_of(document.get("as_of"), problems)
    rates = document.get("rates")
    if not isinstance(rates, dict) or not rates:
        problems.append('rates must be an object of currency code to decimal string, e.g. "EUR"')
        rates = {}
    parsed: dict[Currency, Decimal] = {}
    for code, value in rates.items():
        try:
            currency = Currency.of(code)
        except ValueError:
            problems.append(f"{str(code)[:8]!r} is not an ISO 4217 currency code")
            continue
        if not isinstance(value, str) or not _RATE.fullmatch(value) or Decimal(value) <= 0:
            problems.append(
                f"{code}: the rate must be a positive decimal string with at most 9 integer and "
                "12 fractional digits"
            )
            continue
        parsed[currency] = Decimal(value)
    if BASE_CURRENCY in parsed and parsed[BASE_CURRENCY] != 1:
        problems.append("USD must have the rate 1")
    if problems:
        raise RatesFileError(problems)
    assert isinstance(source, str)
    assert as_of is not None
    parsed.setdefault(BASE_CURRENCY, Decimal(1))
    return [FxRate(currency, rate, as_of, source) for currency, rate in sorted(parsed.items())]


def _parse_as_of(value: object, problems: list[str]) -> datetime | None:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            if EARLIEST_INSTANT <= moment < LATEST_INSTANT:
                return moment
            # Every order snapshots its rate: one outside the contract's times refused them all.
            problems.append("as_of must lie between 1970 and 8999, as every contract time does")
            return None
    problems.append("as_of must be an RFC 3339 time with a zone, e.g. 2025-06-02T16:00:00Z")
    return None
