"""Composition root of the returns service: the one place its parts are wired together."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Gather, Subscription
from orderflow_chassis.migrations import Migration, load_migrations
from orderflow_chassis.periodic import every
from orderflow_chassis.read_marks import ReadMarks
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_chassis.wiring import inject
from orderflow_contracts import topics
from orderflow_contracts.events import (
    OrderPlaced,
    PaymentCaptured,
    RefundFailed,
    RefundIssued,
    ReturnParcelReceived,
    ReturnRequested,
    ShipmentDelivered,
    WarrantyClaimFiled,
)
from orderflow_contracts.policies import AfterSalesPolicy

from orderflow_returns import __doc__ as SERVICE_DESCRIPTION
from orderflow_returns.adapters.repositories import sql_repositories
from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.entrypoints.http import rma_router
from orderflow_returns.handlers import (
    held_requests,
    lock_ahead,
    order_facts,
    parcels,
    queries,
    refunds,
    refused_requests,
    return_requests,
    warranty,
)
from orderflow_returns.ports import ReturnsRepositories
from orderflow_returns.settings import ReturnsSettings

SERVICE_NAME = "returns"
# How often requests whose wait for a delivery ended are judged (a small share of the wait).
HELD_REQUESTS_CHECK_S = 1.0
EVENTS_SUBSCRIPTION = "events"


def returns_migrations() -> list[Migration]:
    return load_migrations(SERVICE_NAME, resources.files("orderflow_returns") / "migrations")


def policy_from(returns_settings: ReturnsSettings, after_sales: AfterSalesPolicy) -> ReturnsPolicy:
    return ReturnsPolicy(
        window=after_sales.window,
        return_shipping_days=returns_settings.return_shipping_days,
        warranty=after_sales.warranty,
        delivery_wait=timedelta(seconds=returns_settings.delivery_wait_s),
    )


def service_dependencies(
    returns_settings: ReturnsSettings, after_sales: AfterSalesPolicy | None = None
) -> dict[str, object]:
    """What the use cases may ask for by keyword (``inject`` binds them by name).
    ``after_sales``: the store's policy, by default as the ``AFTER_SALES_*`` variables set it
    (the cart service reads the same ones)."""
    policy = after_sales if after_sales is not None else AfterSalesPolicy.from_environment()
    return {"policy": policy_from(returns_settings, policy)}


def delivery_reads(settings: ServiceSettings) -> ReadMarks:
    """Marks on the topics deliveries (fulfillment) and orders come on, for the ``events``
    subscription below (held requests are judged once it reached them)."""
    return ReadMarks.of_subscription(
        settings, EVENTS_SUBSCRIPTION, [topics.ORDERS, topics.FULFILLMENT]
    )


@dataclass(frozen=True)
class OpsUseCases:
    """The use cases ops reach through HTTP and the CLI, bound to their dependencies."""

    list_rmas: queries.ListRmas
    find_rma: queries.FindRma
    retry_failed_refund: Callable[
        [uuid.UUID, UnitOfWork[ReturnsRepositories]], Awaitable[refunds.RetryOutcome]
    ]
    release_unpaid_refund: Callable[
        [uuid.UUID, UnitOfWork[ReturnsRepositories]], Awaitable[refunds.RetryOutcome]
    ]


def ops_use_cases(dependencies: dict[str, object]) -> OpsUseCases:
    return OpsUseCases(
        list_rmas=inject(queries.list_rmas, dependencies),
        find_rma=inject(queries.find_rma, dependencies),
        retry_failed_refund=inject(refunds.retry_failed_refund, dependencies),
        release_unpaid_refund=inject(refunds.release_unpaid_refund, dependencies),
    )


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    returns_settings: ReturnsSettings | None = None,
    after_sales: AfterSalesPolicy | None = None,
) -> ServiceDefinition:
    options = returns_settings or ReturnsSettings()
    dependencies = service_dependencies(options, after_sales)
    ops = ops_use_cases(dependencies)

    def bound(use_case: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        handler: Callable[..., Awaitable[None]] = inject(use_case, dependencies)
        return handler

    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=returns_migrations(),
        repositories=sql_repositories(settings.db_schema),
        clock=clock or SystemClock(),
        subscriptions=[
            Subscription(
                name=EVENTS_SUBSCRIPTION,
                topics=[
                    topics.STOREFRONT_RETURNS,
                    topics.ORDERS,
                    topics.FULFILLMENT,
                    topics.PAYMENTS,
                    topics.WAREHOUSE_EVENTS,
                ],
                handlers={
                    # storefront.returns: the customer's requests
                    ReturnRequested: bound(return_requests.request_return),
                    WarrantyClaimFiled: bound(warranty.file_warranty_claim),
                    # orders, fulfillment, payments: facts the decisions need
                    OrderPlaced: bound(order_facts.record_order_placed),
                    ShipmentDelivered: bound(order_facts.record_shipment_delivered),
                    PaymentCaptured: bound(order_facts.record_payment_captured),
                    RefundIssued: bound(refunds.settle_refund_issued),
                    RefundFailed: bound(refunds.settle_refund_failed),
                    # warehouse.events: the returned parcel
                    ReturnParcelReceived: bound(parcels.receive_return_parcel),
                },
                lock_ahead=lock_ahead.lock_batch,
                # No saga step waits on returns, and most of what it reads are facts to
                # remember: fuller batches cost it less per order (and per instance).
                gather=Gather.of_setting(options.gather_ms, max_records=200),
                answer_refusal=refused_requests.answer_refused_request,
            ),
        ],
        routers=[rma_router(list_rmas=ops.list_rmas, find_rma=ops.find_rma)],
        background_jobs=[
            every(
                HELD_REQUESTS_CHECK_S,
                inject(
                    held_requests.judge_due_requests,
                    {**dependencies, "reads": delivery_reads(settings)},
                ),
                name="judge-held-requests",
            )
        ],
    )
