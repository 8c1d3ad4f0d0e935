"""Composition root of the returns service: the one place its parts are wired together."""

from __future__ import annotations

from functools import partial
from importlib import resources

from orderflow_chassis.clock import Clock, SystemClock
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.runtime import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
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

from orderflow_returns import __doc__ as SERVICE_DESCRIPTION
from orderflow_returns import handlers
from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.entrypoints.http import router as rma_router
from orderflow_returns.settings import ReturnsSettings

SERVICE_NAME = "returns"


def policy_from(returns_settings: ReturnsSettings) -> ReturnsPolicy:
    return ReturnsPolicy(
        window=returns_settings.window,
        return_shipping_days=returns_settings.return_shipping_days,
        warranty=returns_settings.warranty_policy(),
    )


def build_definition(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    returns_settings: ReturnsSettings | None = None,
) -> ServiceDefinition:
    clock = clock or SystemClock()
    policy = policy_from(returns_settings or ReturnsSettings())
    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION or "",
        migrations=load_migrations(
            SERVICE_NAME, resources.files("orderflow_returns") / "migrations"
        ),
        subscriptions=[
            Subscription(
                name="events",
                topics=[
                    topics.STOREFRONT_RETURNS,
                    topics.ORDERS,
                    topics.FULFILLMENT,
                    topics.PAYMENTS,
                    topics.WAREHOUSE_EVENTS,
                ],
                handlers={
                    # storefront.returns: the customer's requests
                    ReturnRequested: partial(handlers.request_return, policy=policy, clock=clock),
                    WarrantyClaimFiled: partial(
                        handlers.file_warranty_claim, policy=policy, clock=clock
                    ),
                    # orders, fulfillment, payments: facts the decisions need
                    OrderPlaced: partial(handlers.record_order_placed, clock=clock),
                    ShipmentDelivered: handlers.record_shipment_delivered,
                    PaymentCaptured: handlers.record_payment_captured,
                    RefundIssued: partial(handlers.settle_refund_issued, clock=clock),
                    RefundFailed: partial(handlers.settle_refund_failed, clock=clock),
                    # warehouse.events: the returned parcel
                    ReturnParcelReceived: partial(handlers.receive_return_parcel, clock=clock),
                },
            ),
        ],
        routers=[rma_router],
    )
