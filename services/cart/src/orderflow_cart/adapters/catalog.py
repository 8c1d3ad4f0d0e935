"""The catalog and the exchange rates in the ``cart`` schema."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import asyncpg
from orderflow_chassis.database import Connection, TransactionLocal
from orderflow_chassis.settings import validate_identifier
from orderflow_contracts.money import Currency

from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.rates import FxRate
from orderflow_cart.ports import CatalogEntry, CatalogLoadSummary

# What a batch's checkouts read of the catalog (None: not on sale) and of the rates, kept for
# the rest of its transaction once ``remember_reads`` is called: a batch of checkouts reads
# each product and each rate once instead of once per checkout.
_PRODUCTS_READ: TransactionLocal[dict[str, Product | None]] = TransactionLocal("products_read")
_RATES_READ: TransactionLocal[dict[Currency, FxRate | None]] = TransactionLocal("rates_read")


class CatalogRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    def remember_reads(self) -> None:
        _PRODUCTS_READ.set(self._connection, {})

    async def on_sale(self, skus: Collection[str]) -> dict[str, Product]:
        """The products among ``skus`` that are on sale, by SKU."""
        read = _PRODUCTS_READ.get(self._connection)
        if read is None:
            return await self._on_sale(skus)
        unread = [sku for sku in skus if sku not in read]
        if unread:
            found = await self._on_sale(unread)
            read.update({sku: found.get(sku) for sku in unread})
        return {sku: product for sku in skus if (product := read[sku]) is not None}

    async def _on_sale(self, skus: Collection[str]) -> dict[str, Product]:
        rows = await self._connection.fetch(
            f"SELECT sku, name, price_usd FROM {self._schema}.catalog_products "
            "WHERE sku = ANY($1::text[]) AND active",
            list(skus),
        )
        return {row["sku"]: Product(row["sku"], row["name"], row["price_usd"]) for row in rows}

    async def entries(self) -> list[CatalogEntry]:
        rows = await self._connection.fetch(
            f"SELECT sku, name, price_usd, active FROM {self._schema}.catalog_products ORDER BY sku"
        )
        return [
            CatalogEntry(Product(row["sku"], row["name"], row["price_usd"]), row["active"])
            for row in rows
        ]

    async def is_empty(self) -> bool:
        return not await self._connection.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self._schema}.catalog_products)"
        )

    async def lock_for_seeding(self) -> None:
        # Two instances starting together must not both seed.
        await self._connection.execute("SELECT pg_advisory_xact_lock(hashtext('cart.seed'))")

    async def replace(self, products: Sequence[Product], now: datetime) -> CatalogLoadSummary:
        """Make ``products`` the catalog: add and update them, withdraw every other product.

        Withdrawn products stay in the table (not on sale) so that a later load can bring them
        back; carts holding them are rejected at checkout with ``unknown_sku``.
        """
        before = {entry.product.sku: entry for entry in await self.entries()}
        added, repriced, renamed = [], [], []
        unchanged = 0
        for product in products:
            old = before.get(product.sku)
            if old is None or not old.on_sale:
                added.append(product.sku)
            else:
                if old.product.price_usd != product.price_usd:
                    repriced.append(product.sku)
                if old.product.name != product.name:
                    renamed.append(product.sku)
                if old.product == product:
                    unchanged += 1
        await self._connection.executemany(
            f"""
            INSERT INTO {self._schema}.catalog_products (sku, name, price_usd, active, updated_at)
            VALUES ($1, $2, $3, true, $4)
            ON CONFLICT (sku) DO UPDATE
            SET name = excluded.name, price_usd = excluded.price_usd, active = true,
                updated_at = excluded.updated_at
            """,
            [(p.sku, p.name, p.price_usd, now) for p in products],
        )
        withdrawn = await self._connection.fetch(
            f"""
            UPDATE {self._schema}.catalog_products SET active = false, updated_at = $2
            WHERE active AND NOT (sku = ANY($1::text[]))
            RETURNING sku
            """,
            [p.sku for p in products],
            now,
        )
        return CatalogLoadSummary(
            added=added,
            repriced=repriced,
            renamed=renamed,
            withdrawn=sorted(row["sku"] for row in withdrawn),
            unchanged=unchanged,
        )


class RatesRepository:
    def __init__(self, connection: Connection, schema: str) -> None:
        self._connection = connection
        self._schema = validate_identifier(schema)

    def remember_reads(self) -> None:
        _RATES_READ.set(self._connection, {})

    async def current(self, currency: Currency) -> FxRate | None:
        read = _RATES_READ.get(self._connection)
        if read is not None and currency in read:
            return read[currency]
        row = await self._connection.fetchrow(
            f"SELECT currency, rate, as_of, source FROM {self._schema}.fx_rates "
            "WHERE currency = $1",
            currency.value,
        )
        rate = None if row is None else _rate(row)
        if read is not None:
            read[currency] = rate
        return rate

    async def all(self) -> list[FxRate]:
        rows = await self._connection.fetch(
            f"SELECT currency, rate, as_of, source FROM {self._schema}.fx_rates ORDER BY currency"
        )
        return [_rate(row) for row in rows]

    async def is_empty(self) -> bool:
        return not await self._connection.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self._schema}.fx_rates)"
        )

    async def replace(self, rates: Sequence[FxRate], now: datetime) -> None:
        """Make ``rates`` the current rates; a currency missing from them is no longer sold."""
        await self._connection.execute(f"DELETE FROM {self._schema}.fx_rates")
        await self._connection.executemany(
            f"""
            INSERT INTO {self._schema}.fx_rates (currency, rate, as_of, source, loaded_at)
            VALUES ($1, $2, $3, $4, $5)
            """,
            [(r.currency.value, r.rate, r.as_of, r.source, now) for r in rates],
        )


def _rate(row: asyncpg.Record) -> FxRate:
    return FxRate(Currency.of(row["currency"]), row["rate"], row["as_of"], row["source"])
