"""The scale tests' ordering check: what counts as a reordered aggregate, and what does not."""

from __future__ import annotations

import uuid

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import ParcelDelivered, ParcelDispatched
from orderflow_ops.event_log import LoggedEvent

from tests.support.scale_checks import order_violations

SHIPMENT = uuid.uuid4()


def logged(offset: int, envelope: Envelope) -> LoggedEvent:
    return LoggedEvent("warehouse.events", 0, offset, 0, envelope)


def parcel(sequence: int) -> Envelope:
    event: ParcelDispatched | ParcelDelivered = (
        ParcelDispatched(
            shipment_id=SHIPMENT,
            warehouse_id="EU",
            carrier="SimPost",
            tracking_number="T1",
            dispatched_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        )
        if sequence == 1
        else ParcelDelivered(shipment_id=SHIPMENT, delivered_at="2026-01-02T00:00:00Z")  # type: ignore[arg-type]
    )
    return Envelope.wrap(event, producer="EU", correlation_id="j", sequence=sequence)


def test_a_republished_event_is_a_duplicate_not_a_reordering() -> None:
    dispatched, delivered = parcel(1), parcel(2)
    log = [logged(0, dispatched), logged(1, delivered), logged(2, dispatched), logged(3, delivered)]

    assert order_violations(log) == []


def test_a_new_event_behind_a_later_one_is_a_reordering() -> None:
    log = [logged(0, parcel(2)), logged(1, parcel(1))]

    assert order_violations(log) == [
        f"('warehouse.events', 0, 'EU', '{SHIPMENT}'): sequence 1 after 2"
    ]


def test_two_events_with_one_sequence_are_a_reordering() -> None:
    first, second = parcel(1), parcel(1)  # different event ids, same sequence

    assert len(order_violations([logged(0, first), logged(1, second)])) == 1
