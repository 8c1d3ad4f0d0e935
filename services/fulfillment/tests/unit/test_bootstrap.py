"""The composition root binds every use case at start, and what it binds is what runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from orderflow_chassis.clock import SettableClock
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts.events import (
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
    StockReserved,
)
from orderflow_fulfillment.bootstrap import build_definition
from orderflow_fulfillment.settings import FulfillmentSettings

from services.fulfillment.tests.builders import order_placed
from services.fulfillment.tests.fakes import FakeFulfillment


def settings() -> ServiceSettings:
    return ServiceSettings.for_service("fulfillment", database_url="postgresql://unused/db")


def test_every_consumed_event_has_its_use_case_and_the_jobs_are_scheduled() -> None:
    definition = build_definition(settings(), fulfillment=FulfillmentSettings(seed_file=""))
    seeded = build_definition(settings(), fulfillment=FulfillmentSettings(seed_file="x.toml"))

    [subscription] = definition.subscriptions
    assert set(subscription.handlers) == {
        OrderPlaced,
        OrderCancelled,
        PaymentCaptured,
        PaymentDeclined,
        PaymentVoided,
        ParcelDispatched,
        ParcelDelivered,
        StockCounted,
        ReturnAuthorized,
        ReturnParcelReceived,
        ReplacementRequested,
    }
    jobs = [job.__name__ for job in definition.background_jobs]
    assert jobs == ["expire-reservations", "retry-backorders"]
    # The seed stock is in place before the first order is consumed, not beside it.
    assert [job.__name__ for job in seeded.background_jobs] == jobs
    assert [job.__name__ for job in seeded.start_up_jobs] == ["seed_stock"]
    assert list(definition.start_up_jobs) == []
    assert {route.path for route in definition.routers[0].routes} == {  # type: ignore[attr-defined]
        "/stock",
        "/orders/{order_id}",
        "/anomalies",
    }


async def test_a_bound_handler_runs_with_the_service_settings_and_the_units_clock() -> None:
    fulfillment = FakeFulfillment()
    fulfillment.stock.add_warehouse("EU", "DE", {"GEL": 3})
    definition = build_definition(
        settings(),
        clock=SettableClock(),
        fulfillment=FulfillmentSettings(seed_file="", reservation_ttl_s=42),
    )
    reserve = definition.subscriptions[0].handlers[OrderPlaced]
    placed = order_placed(uuid.uuid4(), {"GEL": 1}, "DE")

    await reserve(placed, fulfillment.unit(placed))

    [reserved] = fulfillment.emitted.of_type(StockReserved)
    assert reserved.expires_at == fulfillment.clock.now() + timedelta(seconds=42)
    assert fulfillment.stock.level("EU", "GEL") == (3, 1)
