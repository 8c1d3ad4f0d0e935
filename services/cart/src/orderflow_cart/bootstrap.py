"""Composition root of the cart service: the one place its parts are wired together."""

from __future__ import annotations

import asyncio
from functools import partial
from importlib import resources

import structlog
from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Handler, Subscription
from orderflow_chassis.errors import is_transient
from orderflow_chassis.migrations import Migration, load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.runtime import RuntimeResources, ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts import topics
from orderflow_contracts.events import Event

from orderflow_cart import __doc__ as SERVICE_DESCRIPTION
from orderflow_cart.adapters.carts import CartRepository
from orderflow_cart.adapters.catalog import CatalogRepository, RatesRepository
from orderflow_cart.adapters.orders import OrderRepository
from orderflow_cart.adapters.reference_data import ReferenceData
from orderflow_cart.entrypoints.http import cart_api_router
from orderflow_cart.handlers import (
    STOREFRONT_CART_EVENTS,
    CartDependencies,
    receive_cart_event,
    release_overdue_gaps,
    report_abandoned_carts,
)
from orderflow_cart.order_lifecycle import SAGA_FAILURES, cancel_failed_order
from orderflow_cart.settings import CartSettings

SERVICE_NAME = "cart"

log = structlog.get_logger(__name__)


def cart_migrations() -> list[Migration]:
    return load_migrations(SERVICE_NAME, resources.files("orderflow_cart") / "migrations")


def build_dependencies(
    settings: ServiceSettings, cart_settings: CartSettings, clock: Clock
) -> CartDependencies:
    schema = settings.db_schema
    catalog, rates = CatalogRepository(schema), RatesRepository(schema)
    return CartDependencies(
        rules=cart_settings.checkout_rules(),
        clock=clock,
        gap_timeout=cart_settings.gap_timeout,
        abandon_after=cart_settings.abandon_after,
        carts=CartRepository(schema),
        catalog=catalog,
        rates=rates,
        orders=OrderRepository(schema),
        reference_data=ReferenceData(
            catalog,
            rates,
            clock,
            catalog_file=cart_settings.catalog_seed_file,
            rates_file=cart_settings.rates_seed_file,
        ),
    )


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    cart_settings: CartSettings | None = None,
) -> ServiceDefinition:
    cart_settings = cart_settings if cart_settings is not None else CartSettings()
    deps = build_dependencies(settings, cart_settings, clock or SystemClock())
    receive: Handler = partial(receive_cart_event, deps=deps)
    cancel_on_failure: Handler = partial(cancel_failed_order, orders=deps.orders)
    handlers: dict[type[Event], Handler] = {event: receive for event in STOREFRONT_CART_EVENTS}

    async def seed_reference_data(resources: RuntimeResources) -> None:
        # Once, at start; retried while the database is unreachable. Checkouts and the API
        # also seed on first use, so a checkout arriving first still sees the catalog.
        while True:
            try:
                async with resources.pool.acquire() as connection:
                    await deps.reference_data.ensure_seeded(connection)
                return
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning("reference_data.seed_failed", error=str(error))
                await asyncio.sleep(5)

    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION,
        migrations=cart_migrations(),
        subscriptions=[
            Subscription(
                name="events",
                topics=[topics.STOREFRONT_CARTS],
                handlers=handlers,
            ),
            Subscription(
                name="order-outcomes",
                topics=[topics.PAYMENTS, topics.FULFILLMENT],
                handlers=dict.fromkeys(SAGA_FAILURES, cancel_on_failure),
            ),
        ],
        routers=[cart_api_router(deps)],
        background_jobs=[
            seed_reference_data,
            every(
                cart_settings.gap_sweep_interval_s,
                partial(release_overdue_gaps, deps=deps),
                name="release-overdue-gaps",
            ),
            every(
                cart_settings.abandon_sweep_interval_s,
                partial(report_abandoned_carts, deps=deps),
                name="report-abandoned-carts",
            ),
        ],
    )
