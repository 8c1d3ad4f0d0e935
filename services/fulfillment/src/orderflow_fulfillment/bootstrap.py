"""Composition root of the fulfillment service: the one place its parts are wired together."""

from __future__ import annotations

from importlib import resources

import structlog
from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Handler, Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.runtime import BackgroundJob, RuntimeResources, ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts import topics
from orderflow_contracts.events import (
    Event,
    OrderCancelled,
    OrderPlaced,
    ParcelDelivered,
    ParcelDispatched,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnParcelReceived,
    StockCounted,
)

from orderflow_fulfillment import __doc__ as SERVICE_DESCRIPTION
from orderflow_fulfillment import jobs
from orderflow_fulfillment.adapters.stock_files import apply_stock_file, read_stock_file
from orderflow_fulfillment.entrypoints.http import router as fulfillment_router
from orderflow_fulfillment.handlers import FulfillmentHandlers
from orderflow_fulfillment.settings import FulfillmentSettings

SERVICE_NAME = "fulfillment"

log = structlog.get_logger(__name__)


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    fulfillment: FulfillmentSettings | None = None,
) -> ServiceDefinition:
    options = fulfillment or FulfillmentSettings()
    handlers = FulfillmentHandlers(settings.db_schema, options, clock or SystemClock())
    by_event: dict[type[Event], Handler] = {
        OrderPlaced: handlers.reserve_stock,
        OrderCancelled: handlers.release_on_order_cancelled,
        PaymentCaptured: handlers.request_fulfillment,
        PaymentDeclined: handlers.release_on_payment_declined,
        PaymentVoided: handlers.release_on_payment_voided,
        ParcelDispatched: handlers.record_dispatch,
        ParcelDelivered: handlers.record_delivery,
        StockCounted: handlers.apply_stock_count,
        ReturnAuthorized: handlers.expect_return,
        ReturnParcelReceived: handlers.restock_return,
        ReplacementRequested: handlers.ship_replacement,
    }

    async def expire(resources: RuntimeResources) -> None:
        await jobs.expire_reservations(resources, handlers)

    async def retry_backorders(resources: RuntimeResources) -> None:
        await jobs.retry_backordered_replacements(resources, handlers)

    background: list[BackgroundJob] = [
        every(options.expiry_check_interval_s, expire, name="expire-reservations"),
        every(options.backorder_retry_interval_s, retry_backorders, name="retry-backorders"),
    ]
    if options.seed_file:
        background.append(_seed_once(options.seed_file, handlers))

    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=load_migrations(
            SERVICE_NAME, resources.files("orderflow_fulfillment") / "migrations"
        ),
        subscriptions=[
            Subscription(
                name="events",
                topics=[topics.ORDERS, topics.PAYMENTS, topics.WAREHOUSE_EVENTS, topics.RETURNS],
                handlers=by_event,
            ),
        ],
        routers=[fulfillment_router],
        background_jobs=background,
    )


def _seed_once(location: str, handlers: FulfillmentHandlers) -> BackgroundJob:
    """Load warehouses and SKUs the database does not know yet; never overwrite a figure."""

    async def seed_stock(resources: RuntimeResources) -> None:
        try:
            stock_file = read_stock_file(location)
            async with resources.pool.acquire() as connection:
                report = await apply_stock_file(
                    connection,
                    handlers.schema,
                    stock_file,
                    only_missing=True,
                    at=handlers.clock.now(),
                    reference=f"seed:{location}",
                )
        except Exception:
            log.exception("fulfillment.seed_failed", seed_file=location)
            return
        log.info(
            "fulfillment.seeded",
            seed_file=location,
            warehouses=report.warehouses,
            new_figures=report.figures_set,
        )

    return seed_stock
