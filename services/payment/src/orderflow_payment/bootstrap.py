"""Composition root of the payment service: the one place its parts are wired together.

Every use case declares its dependencies as keyword-only parameters; :func:`dependencies`
builds them once and ``inject`` binds them, for the handlers, the job, the HTTP route and the
CLI alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import resources

from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.wiring import inject
from orderflow_contracts import topics
from orderflow_contracts.events.fulfillment import (
    ReservationReleased,
    StockReserved,
    StockUnavailable,
)
from orderflow_contracts.events.orders import OrderCancelled, OrderPlaced
from orderflow_contracts.events.returns import RefundRequested

from orderflow_payment import __doc__ as SERVICE_DESCRIPTION
from orderflow_payment.adapters.provider_registry import build_registry
from orderflow_payment.adapters.repositories import sql_repositories
from orderflow_payment.entrypoints.http import payments_router
from orderflow_payment.handlers import (
    authorisation,
    cancellation,
    expiry,
    lock_ahead,
    queries,
    refunds,
    stock,
)
from orderflow_payment.ports import PaymentProviders
from orderflow_payment.settings import PaymentSettings

SERVICE_NAME = "payment"


def dependencies(
    payment_settings: PaymentSettings,
    providers: PaymentProviders,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, object]:
    """What the use cases may ask for, by parameter name. ``sleep`` is the pause between
    provider retries (tests pass one that does not wait)."""
    return {"providers": providers, "settings": payment_settings, "sleep": sleep}


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    payment_settings: PaymentSettings | None = None,
    providers: PaymentProviders | None = None,
) -> ServiceDefinition:
    payment_settings = payment_settings or PaymentSettings()
    # The service closes the registry it built (its sandbox pool, HTTP clients) at stop;
    # providers a caller passes in are the caller's to close.
    registry = None
    if providers is None:
        providers = registry = build_registry(
            payment_settings, database_url=settings.database_url, schema=settings.db_schema
        )
    wired = dependencies(payment_settings, providers)
    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=load_migrations(
            SERVICE_NAME, resources.files("orderflow_payment") / "migrations"
        ),
        repositories=sql_repositories(settings.db_schema),
        clock=clock or SystemClock(),
        subscriptions=[
            Subscription(
                name="events",
                topics=[topics.ORDERS, topics.FULFILLMENT, topics.RETURNS],
                handlers={
                    OrderPlaced: inject(authorisation.authorise_payment, wired),
                    OrderCancelled: inject(cancellation.cancel_payment, wired),
                    StockReserved: inject(stock.record_stock_reserved, wired),
                    StockUnavailable: inject(stock.record_stock_unavailable, wired),
                    ReservationReleased: inject(stock.record_reservation_released, wired),
                    RefundRequested: inject(refunds.refund_payment, wired),
                },
                lock_ahead=lock_ahead.lock_batch,
            ),
        ],
        routers=[payments_router(inject(queries.payment_of_order, wired))],
        background_jobs=[
            every(
                payment_settings.expiry_sweep_interval_s,
                inject(expiry.expire_authorisations, wired),
                name="expire-authorisations",
            )
        ],
        on_stop=[registry.close] if registry is not None else [],
        production_refusals=payment_settings.production_refusals() if settings.production else (),
    )
