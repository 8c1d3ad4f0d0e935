"""Composition root of the fulfillment service: the one place its parts are wired together."""

from __future__ import annotations

from importlib import resources

from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Handler, Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.read_marks import ReadMarks
from orderflow_chassis.service_definition import BackgroundJob, ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.wiring import inject
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
from orderflow_fulfillment.adapters.repositories import sql_repositories
from orderflow_fulfillment.adapters.stock_files import read_stock_file
from orderflow_fulfillment.entrypoints.http import fulfillment_router
from orderflow_fulfillment.handlers import (
    expiry,
    fulfillment_requests,
    lock_ahead,
    queries,
    replacements,
    reservations,
    returns,
    stock_counts,
    stock_loads,
    warehouse_reports,
)
from orderflow_fulfillment.settings import FulfillmentSettings

SERVICE_NAME = "fulfillment"
EVENTS_SUBSCRIPTION = "events"


def dependencies(fulfillment: FulfillmentSettings) -> dict[str, object]:
    """What fulfillment's use cases may ask for, by keyword-only parameter name."""
    return {"settings": fulfillment, "read_stock_file": read_stock_file}


def payment_reads(settings: ServiceSettings) -> ReadMarks:
    """Marks on the topics payment outcomes and cancellations come on, for the ``events``
    subscription below (a reservation expires once it reached them)."""
    return ReadMarks.of_subscription(
        settings, EVENTS_SUBSCRIPTION, [topics.ORDERS, topics.PAYMENTS]
    )


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    fulfillment: FulfillmentSettings | None = None,
) -> ServiceDefinition:
    options = fulfillment or FulfillmentSettings()
    provided = dependencies(options)
    by_event: dict[type[Event], Handler] = {
        OrderPlaced: inject(reservations.reserve_stock, provided),
        OrderCancelled: inject(reservations.release_on_order_cancelled, provided),
        PaymentCaptured: inject(fulfillment_requests.request_fulfillment, provided),
        PaymentDeclined: inject(reservations.release_on_payment_declined, provided),
        PaymentVoided: inject(reservations.release_on_payment_voided, provided),
        ParcelDispatched: inject(warehouse_reports.record_dispatch, provided),
        ParcelDelivered: inject(warehouse_reports.record_delivery, provided),
        StockCounted: inject(stock_counts.apply_stock_count, provided),
        ReturnAuthorized: inject(returns.expect_return, provided),
        ReturnParcelReceived: inject(returns.restock_return, provided),
        ReplacementRequested: inject(replacements.ship_replacement, provided),
    }
    background: list[BackgroundJob] = [
        every(
            options.expiry_check_interval_s,
            expiry.ReservationExpiry(payment_reads(settings)),
            name="expire-reservations",
        ),
        every(
            options.backorder_retry_interval_s,
            inject(replacements.retry_backordered_replacements, provided),
            name="retry-backorders",
        ),
    ]
    # Before the consumers start: an order placed on a fresh install must find the stock.
    start_up = [inject(stock_loads.seed_stock, provided)] if options.seed_file else []

    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=load_migrations(
            SERVICE_NAME, resources.files("orderflow_fulfillment") / "migrations"
        ),
        repositories=sql_repositories(settings.db_schema),
        clock=clock or SystemClock(),
        subscriptions=[
            Subscription(
                name=EVENTS_SUBSCRIPTION,
                topics=[topics.ORDERS, topics.PAYMENTS, topics.WAREHOUSE_EVENTS, topics.RETURNS],
                handlers=by_event,
                lock_ahead=lock_ahead.lock_batch,
            ),
        ],
        routers=[
            fulfillment_router(
                stock_levels_query=inject(queries.stock_levels, provided),
                order_query=inject(queries.order_fulfillment, provided),
                anomalies_query=inject(queries.recorded_anomalies, provided),
            )
        ],
        background_jobs=background,
        start_up_jobs=start_up,
    )
