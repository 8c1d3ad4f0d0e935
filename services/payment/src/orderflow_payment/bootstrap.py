"""Composition root of the payment service: the one place its parts are wired together."""

from __future__ import annotations

from functools import partial
from importlib import resources

from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.runtime import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts import topics
from orderflow_contracts.events.fulfillment import (
    ReservationReleased,
    StockReserved,
    StockUnavailable,
)
from orderflow_contracts.events.orders import OrderCancelled, OrderPlaced
from orderflow_contracts.events.returns import RefundRequested

from orderflow_payment import __doc__ as SERVICE_DESCRIPTION
from orderflow_payment import handlers
from orderflow_payment.adapters.provider_registry import ProviderRegistry, build_registry
from orderflow_payment.entrypoints.http import router
from orderflow_payment.handlers import PaymentDependencies, bind
from orderflow_payment.settings import PaymentSettings

SERVICE_NAME = "payment"


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    payment_settings: PaymentSettings | None = None,
    providers: ProviderRegistry | None = None,
) -> ServiceDefinition:
    payment_settings = payment_settings or PaymentSettings()
    deps = PaymentDependencies(
        providers=providers
        or build_registry(
            payment_settings, database_url=settings.database_url, schema=settings.db_schema
        ),
        clock=clock or SystemClock(),
        settings=payment_settings,
        schema=settings.db_schema,
    )
    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=load_migrations(
            SERVICE_NAME, resources.files("orderflow_payment") / "migrations"
        ),
        subscriptions=[
            Subscription(
                name="events",
                topics=[topics.ORDERS, topics.FULFILLMENT, topics.RETURNS],
                handlers={
                    OrderPlaced: bind(handlers.authorise_payment, deps),
                    OrderCancelled: bind(handlers.cancel_payment, deps),
                    StockReserved: bind(handlers.record_stock_reserved, deps),
                    StockUnavailable: bind(handlers.record_stock_unavailable, deps),
                    ReservationReleased: bind(handlers.record_reservation_released, deps),
                    RefundRequested: bind(handlers.refund_payment, deps),
                },
            ),
        ],
        routers=[router],
        background_jobs=[
            every(
                payment_settings.expiry_sweep_interval_s,
                partial(handlers.expire_authorisations, deps=deps),
                name="expire-authorisations",
            )
        ],
    )
