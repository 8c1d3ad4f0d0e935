"""The product catalog: SKUs, names and base prices in US dollars (exact cents).

The catalog is data, not code: it is read from a CSV file (``sku,name,price_usd``), seeded from
the package's ``data/catalog.csv`` and replaced with ``orderflow-cart catalog load FILE``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from orderflow_contracts.card_data import contains_card_number
from orderflow_contracts.primitives import SKU_PATTERN

CATALOG_COLUMNS: Final = ("sku", "name", "price_usd")
_SKU = re.compile(SKU_PATTERN)
_PRICE = re.compile(r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,2})?$")
MAX_NAME_LENGTH: Final = 200


@dataclass(frozen=True)
class Product:
    """A product the store sells, priced in USD (the base currency)."""

    sku: str
    name: str
    price_usd: Decimal


class CatalogFileError(ValueError):
    """The catalog file breaks a rule; ``problems`` lists every one, with line numbers."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def valid_sku(sku: str) -> bool:
    return 2 <= len(sku) <= 32 and _SKU.fullmatch(sku) is not None


def parse_catalog_csv(text: str) -> list[Product]:
    """Products from CSV text with a ``sku,name,price_usd`` header; every problem at once.

    Prices are exact decimal strings with at most two decimals and must be positive; SKUs follow
    the contract's pattern and appear once; names are 1-200 characters; neither reads as a card
    number (the problem does not echo it).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(name.strip() for name in reader.fieldnames or ())
    if header != CATALOG_COLUMNS:
        raise CatalogFileError(
            [f"the header must be {','.join(CATALOG_COLUMNS)}, found {','.join(header) or '-'}"]
        )
    products: list[Product] = []
    problems: list[str] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        if None in row or any(value is None for value in row.values()):
            problems.append(f"line {line}: expected exactly 3 columns")
            continue
        sku, name, price = (row[column].strip() for column in CATALOG_COLUMNS)
        if contains_card_number(sku) or contains_card_number(name):
            # Every service screens events for card numbers: a product whose SKU or name reads
            # as one could never be bought, and its orders would be refused downstream.
            problems.append(
                f"line {line}: the SKU or name holds a digit run that reads as a card number; "
                "every service would refuse the events that carry it"
            )
            continue
        if not valid_sku(sku):
            problems.append(
                f"line {line}: SKU {sku[:40]!r} must be 2-32 upper-case letters and digits in "
                "hyphen-separated groups"
            )
        elif sku in seen:
            problems.append(f"line {line}: SKU {sku} appears twice")
        seen.add(sku)
        if not name or len(name) > MAX_NAME_LENGTH:
            problems.append(f"line {line}: the name must be 1-{MAX_NAME_LENGTH} characters")
        if not _PRICE.fullmatch(price) or Decimal(price) <= 0:
            problems.append(
                f"line {line}: price_usd {price[:20]!r} must be a positive decimal with at most "
                "two decimals, e.g. 12.95"
            )
            continue
        products.append(
            Product(sku=sku, name=name, price_usd=Decimal(price).quantize(Decimal("0.01")))
        )
    if not problems and not products:
        problems.append("the catalog has no products")
    if problems:
        raise CatalogFileError(problems)
    return products
