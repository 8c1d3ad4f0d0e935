"""``orderflow-cart``: ``run`` and ``migrate`` (the chassis's), plus the catalog and the rates.

    orderflow-cart catalog load FILE   # CSV sku,name,price_usd: becomes the catalog
    orderflow-cart catalog list
    orderflow-cart rates load FILE     # JSON {"base","source","as_of","rates"}: become the rates
    orderflow-cart rates list

They connect with ``CART_DATABASE_URL`` (the service's own role). They never migrate: on a
schema with migrations pending they say so (run ``orderflow-cart migrate`` first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from orderflow_chassis.service_cli import ServiceDatabase, service_cli, with_service_database

from orderflow_cart.bootstrap import SERVICE_NAME, build_definition
from orderflow_cart.domain.catalog import CatalogFileError, parse_catalog_csv
from orderflow_cart.domain.rates import RatesFileError, parse_rates_json
from orderflow_cart.handlers import catalog_admin
from orderflow_cart.ports import CartUnit

T = TypeVar("T")

app = service_cli(SERVICE_NAME, build_definition)
catalog_app = typer.Typer(
    no_args_is_help=True, help="The product catalog: SKUs, names and USD prices."
)
rates_app = typer.Typer(no_args_is_help=True, help="Exchange rates: units of a currency per USD.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(rates_app, name="rates")

ExistingFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, show_default=False)
]


def _run(use_case: Callable[[CartUnit], Awaitable[T]], *, read_only: bool) -> T:
    """Run one use case in a unit of work of its own on the cart's database."""

    async def work(database: ServiceDatabase) -> T:
        async with database.transactions.begin(read_only=read_only) as uow:
            return await use_case(uow)

    return with_service_database(SERVICE_NAME, build_definition, work)


def _fail(problems: list[str], file: Path) -> typer.Exit:
    typer.echo(f"{file}: nothing was loaded; fix these problems first:", err=True)
    for problem in problems:
        typer.echo(f"  {problem}", err=True)
    return typer.Exit(code=1)


@catalog_app.command("load")
def load_catalog(file: ExistingFile) -> None:
    """Make FILE the catalog (CSV with the header sku,name,price_usd).

    Products in FILE are added or updated; products not in it are withdrawn from sale (kept for
    history; a cart holding one is rejected at checkout with unknown_sku). Open carts are
    priced with the new prices from now on; placed orders keep theirs.
    """
    try:
        products = parse_catalog_csv(file.read_text(encoding="utf-8"))
    except CatalogFileError as error:
        raise _fail(error.problems, file) from None

    summary = _run(lambda uow: catalog_admin.load_catalog(products, uow), read_only=False)
    typer.echo(
        f"catalog loaded from {file}: {len(products)} products on sale "
        f"({len(summary.added)} added, {len(summary.repriced)} repriced, "
        f"{len(summary.renamed)} renamed, {len(summary.withdrawn)} withdrawn, "
        f"{summary.unchanged} unchanged)"
    )
    for label, skus in (
        ("added", summary.added),
        ("repriced", summary.repriced),
        ("renamed", summary.renamed),
        ("withdrawn", summary.withdrawn),
    ):
        if skus:
            typer.echo(f"  {label}: {', '.join(skus)}")


@catalog_app.command("list")
def list_catalog(
    all_products: Annotated[
        bool, typer.Option("--all", help="Include products withdrawn from sale.")
    ] = False,
) -> None:
    """Print the catalog: SKU, USD price, name (products on sale unless --all)."""

    entries = _run(
        lambda uow: catalog_admin.list_catalog(uow, withdrawn_too=all_products), read_only=True
    )
    for entry in entries:
        product = entry.product
        status = "" if entry.on_sale else "  (withdrawn)"
        typer.echo(f"{product.sku:<24} {product.price_usd:>10} USD  {product.name}{status}")


@rates_app.command("load")
def load_rates(file: ExistingFile) -> None:
    """Make FILE the exchange rates (JSON: base USD, source, as_of, rates as decimal strings).

    A currency missing from FILE can no longer be sold in (checkout: unsupported_currency).
    Orders already placed keep the rate they snapshotted.
    """
    try:
        rates = parse_rates_json(file.read_text(encoding="utf-8"))
    except RatesFileError as error:
        raise _fail(error.problems, file) from None

    _run(lambda uow: catalog_admin.load_rates(rates, uow), read_only=False)
    typer.echo(
        f"rates loaded from {file}: {len(rates)} currencies, source {rates[0].source}, "
        f"as of {rates[0].as_of.isoformat()}"
    )


@rates_app.command("list")
def list_rates() -> None:
    """Print the current rates: currency, units per USD, source, as-of time."""

    for rate in _run(catalog_admin.list_rates, read_only=True):
        typer.echo(
            f"{rate.currency.value}  {rate.rate:>16}  {rate.source}  {rate.as_of.isoformat()}"
        )
