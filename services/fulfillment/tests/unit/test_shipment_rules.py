"""Which warehouse reports a shipment accepts in which state."""

from __future__ import annotations

import pytest
from orderflow_fulfillment.domain.shipments import (
    AnomalyReason,
    Decision,
    DeliveryAction,
    DispatchAction,
    ShipmentStatus,
    decide_delivery,
    decide_dispatch,
    order_is_complete,
)


def dispatch(
    status: ShipmentStatus,
    *,
    warehouse: str = "EU",
    known: str | None = None,
    reported: str = "T1",
) -> Decision[DispatchAction]:
    return decide_dispatch(
        status,
        shipment_warehouse="EU",
        reported_warehouse=warehouse,
        known_tracking=known,
        reported_tracking=reported,
    )


def test_a_requested_shipment_is_dispatched() -> None:
    assert dispatch(ShipmentStatus.REQUESTED) == Decision(DispatchAction.DISPATCH)


@pytest.mark.parametrize(
    ("status", "known", "reported", "expected"),
    [
        (
            ShipmentStatus.DISPATCHED,
            "T1",
            "T1",
            Decision(DispatchAction.IGNORE, AnomalyReason.DUPLICATE_DISPATCH),
        ),
        (
            ShipmentStatus.DISPATCHED,
            "T1",
            "T2",
            Decision(DispatchAction.IGNORE, AnomalyReason.CONFLICTING_DISPATCH),
        ),
        (
            ShipmentStatus.DELIVERED,
            None,
            "T1",
            Decision(DispatchAction.RECORD_TRACKING, AnomalyReason.DISPATCHED_AFTER_DELIVERED),
        ),
        (
            ShipmentStatus.DELIVERED,
            "T1",
            "T1",
            Decision(DispatchAction.IGNORE, AnomalyReason.DUPLICATE_DISPATCH),
        ),
        (
            ShipmentStatus.RESERVED,
            None,
            "T1",
            Decision(DispatchAction.IGNORE, AnomalyReason.NOT_REQUESTED),
        ),
        (
            ShipmentStatus.RELEASED,
            None,
            "T1",
            Decision(DispatchAction.IGNORE, AnomalyReason.NOT_REQUESTED),
        ),
    ],
)
def test_dispatch_reports_that_do_not_fit_change_nothing_and_say_why(
    status: ShipmentStatus, known: str | None, reported: str, expected: Decision[DispatchAction]
) -> None:
    assert dispatch(status, known=known, reported=reported) == expected


def test_a_dispatch_from_another_warehouse_is_ignored() -> None:
    assert dispatch(ShipmentStatus.REQUESTED, warehouse="US") == Decision(
        DispatchAction.IGNORE, AnomalyReason.WAREHOUSE_MISMATCH
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ShipmentStatus.DISPATCHED, Decision(DeliveryAction.DELIVER)),
        (
            ShipmentStatus.REQUESTED,
            Decision(
                DeliveryAction.DELIVER_IMPLYING_DISPATCH, AnomalyReason.DELIVERED_BEFORE_DISPATCHED
            ),
        ),
        (
            ShipmentStatus.DELIVERED,
            Decision(DeliveryAction.IGNORE, AnomalyReason.DUPLICATE_DELIVERY),
        ),
        (ShipmentStatus.RESERVED, Decision(DeliveryAction.IGNORE, AnomalyReason.NOT_REQUESTED)),
        (ShipmentStatus.RELEASED, Decision(DeliveryAction.IGNORE, AnomalyReason.NOT_REQUESTED)),
    ],
)
def test_delivery_decisions(status: ShipmentStatus, expected: Decision[DeliveryAction]) -> None:
    assert decide_delivery(status) == expected


def test_an_order_completes_when_every_original_shipment_is_delivered() -> None:
    delivered, dispatched = ShipmentStatus.DELIVERED, ShipmentStatus.DISPATCHED
    assert order_is_complete([(delivered, False), (delivered, False)])
    assert not order_is_complete([(delivered, False), (dispatched, False)])
    assert order_is_complete([(delivered, False), (dispatched, True)])  # replacement pending
    assert not order_is_complete([(delivered, True)])  # replacements alone complete nothing
    assert not order_is_complete([])
