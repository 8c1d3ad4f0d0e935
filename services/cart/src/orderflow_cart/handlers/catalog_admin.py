"""Ops commands on the reference data: load and list the catalog and the exchange rates."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow_cart.domain.catalog import Product
from orderflow_cart.domain.rates import FxRate
from orderflow_cart.ports import CartUnit, CatalogEntry, CatalogLoadSummary


async def load_catalog(products: Sequence[Product], uow: CartUnit) -> CatalogLoadSummary:
    """Make ``products`` the catalog. Products not among them are withdrawn from sale (kept
    for history); open carts are priced with the new prices from now on, placed orders keep
    theirs."""
    return await uow.repos.catalog.replace(products, uow.now)


async def list_catalog(uow: CartUnit, *, withdrawn_too: bool = False) -> list[CatalogEntry]:
    return [e for e in await uow.repos.catalog.entries() if e.on_sale or withdrawn_too]


async def load_rates(rates: Sequence[FxRate], uow: CartUnit) -> None:
    """Make ``rates`` the current rates; a currency missing from them is no longer sold."""
    await uow.repos.rates.replace(rates, uow.now)


async def list_rates(uow: CartUnit) -> list[FxRate]:
    return await uow.repos.rates.all()
