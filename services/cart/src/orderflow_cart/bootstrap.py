"""Composition root of the cart service: the one place its parts are wired together.

Every use case declares the dependencies it needs as keyword-only parameters; ``dependencies``
builds them once and :func:`~orderflow_chassis.wiring.inject` binds them, for the consumer's
handlers, the jobs, the HTTP routes and the CLI alike.
"""

from __future__ import annotations

from importlib import resources

from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Gather, Handler, Subscription
from orderflow_chassis.live_feeds import FeedLimits
from orderflow_chassis.migrations import Migration, load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.wiring import inject
from orderflow_contracts import topics
from orderflow_contracts.events import CheckoutRejected, Event
from orderflow_contracts.policies import AfterSalesPolicy

from orderflow_cart import __doc__ as SERVICE_DESCRIPTION
from orderflow_cart.adapters import sql_repositories
from orderflow_cart.adapters.reference_data import SeedFiles
from orderflow_cart.entrypoints.http import cart_api_router
from orderflow_cart.handlers import queries, reference_data, sweeps
from orderflow_cart.handlers.cart_events import (
    STOREFRONT_CART_EVENTS,
    CartRules,
    lock_carts,
    receive_cart_event,
    write_carts,
)
from orderflow_cart.handlers.checkout import answer_refused_checkout
from orderflow_cart.handlers.order_cancellation import SAGA_FAILURES, cancel_failed_order
from orderflow_cart.handlers.reference_data import ReferenceData
from orderflow_cart.order_status import handlers as order_status
from orderflow_cart.order_status.adapters.changes import StatusChanges
from orderflow_cart.order_status.entrypoints.http import order_status_router
from orderflow_cart.settings import CartSettings

SERVICE_NAME = "cart"


def cart_migrations() -> list[Migration]:
    return load_migrations(SERVICE_NAME, resources.files("orderflow_cart") / "migrations")


def dependencies(
    cart_settings: CartSettings, after_sales: AfterSalesPolicy | None = None
) -> dict[str, object]:
    """What the cart's use cases may ask for, by parameter name. ``after_sales``: the store's
    policy, by default as the ``AFTER_SALES_*`` variables set it (the returns service reads
    the same ones)."""
    policy = after_sales if after_sales is not None else AfterSalesPolicy.from_environment()
    rules = cart_settings.checkout_rules()
    seed = ReferenceData(SeedFiles(cart_settings.catalog_seed_file, cart_settings.rates_seed_file))
    return {
        "rules": rules,
        "reference_data": seed,
        "cart_rules": CartRules(rules, cart_settings.gap_timeout, seed),
        "abandon_after": cart_settings.abandon_after,
        # The store's shared after-sales policy: the dates the returns service applies.
        "return_window": policy.window,
        "warranty_policy": policy.warranty,
    }


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    cart_settings: CartSettings | None = None,
    after_sales: AfterSalesPolicy | None = None,
) -> ServiceDefinition:
    cart_settings = cart_settings if cart_settings is not None else CartSettings()
    deps = dependencies(cart_settings, after_sales)
    receive: Handler = inject(receive_cart_event, deps)
    cancel_on_failure: Handler = inject(cancel_failed_order, deps)
    handlers: dict[type[Event], Handler] = dict.fromkeys(STOREFRONT_CART_EVENTS, receive)
    projection: dict[type[Event], Handler] = dict.fromkeys(
        order_status.PROJECTED_EVENTS, inject(order_status.project_order_event, deps)
    )
    projection[CheckoutRejected] = inject(order_status.record_checkout_rejection, deps)
    status_changes = StatusChanges(
        settings.db_schema, command_timeout_s=settings.db_command_timeout_s
    )

    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=cart_migrations(),
        repositories=sql_repositories(settings.db_schema),
        clock=clock or SystemClock(),
        subscriptions=[
            Subscription(
                name="events",
                topics=[topics.STOREFRONT_CARTS],
                handlers=handlers,
                lock_ahead=lock_carts,
                write_behind=write_carts,
                answer_refusal=answer_refused_checkout,
            ),
            Subscription(
                name="order-outcomes",
                topics=[topics.PAYMENTS, topics.FULFILLMENT],
                handlers=dict.fromkeys(SAGA_FAILURES, cancel_on_failure),
                # It passes over most of what it reads: fuller batches cost it less per order.
                gather=Gather.of_setting(cart_settings.order_outcomes_gather_ms, max_records=200),
            ),
            # Its own consumer group, so the storefront's read model never delays the saga.
            Subscription(
                name="order-status",
                topics=[
                    topics.ORDERS,
                    topics.CARTS,
                    topics.PAYMENTS,
                    topics.FULFILLMENT,
                    topics.RETURNS,
                ],
                handlers=projection,
                lock_ahead=order_status.lock_batch,
                write_behind=order_status.write_batch,
                # A read model: fuller batches rewrite each order's status fewer times.
                gather=Gather.of_setting(cart_settings.order_status_gather_ms),
            ),
        ],
        routers=[
            cart_api_router(
                view_cart=inject(queries.view_cart, deps),
                cart_events=inject(queries.cart_events, deps),
                catalog_in=inject(queries.catalog_in, deps),
                seed_reference_data=inject(reference_data.seed_reference_data, deps),
            ),
            order_status_router(
                api_token=cart_settings.storefront_api_token,
                order_status=inject(order_status.order_status, deps),
                cart_order=inject(order_status.cart_order, deps),
                customer_orders=inject(order_status.customer_orders, deps),
                changes=status_changes,
                feeds=FeedLimits(
                    keep_alive_s=cart_settings.order_feed_keep_alive_s,
                    max_open=cart_settings.order_feed_max_open,
                    max_lifetime_s=cart_settings.order_feed_max_lifetime_s,
                ),
            ),
        ],
        on_stop=[status_changes.close],
        # Checkouts seed on first use too; at start it is done before readiness is served.
        start_up_jobs=[inject(reference_data.seed_at_start, deps)],
        background_jobs=[
            every(
                cart_settings.gap_sweep_interval_s,
                inject(sweeps.release_overdue_gaps, deps),
                name="release-overdue-gaps",
            ),
            every(
                cart_settings.abandon_sweep_interval_s,
                inject(sweeps.report_abandoned_carts, deps),
                name="report-abandoned-carts",
            ),
        ],
    )
