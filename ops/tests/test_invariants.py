"""The system invariant check over synthetic event logs: it passes sound runs and names
every kind of violation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import ORDER_ID
from orderflow_ops.event_log import LoggedEvent
from orderflow_ops.invariants import Deadlines, check, render

MakeLogged = Callable[..., tuple[LoggedEvent, Envelope]]  # the conftest fixture

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DEADLINES = Deadlines(
    payment_and_stock=timedelta(minutes=5),
    capture=timedelta(minutes=5),
    compensation=timedelta(minutes=5),
    shipment=timedelta(minutes=30),
    delivery=timedelta(hours=2),
)

HAPPY_PATH = [
    "CartCheckedOut",
    "OrderPlaced",
    "PaymentAuthorized",
    "StockReserved",
    "PaymentCaptured",
    "FulfillmentRequested",
    "ShipmentDispatched",
    "ShipmentDelivered",
    "OrderCompleted",
]


def _log(make_logged: MakeLogged, event_types: list[str]) -> list[LoggedEvent]:
    return [make_logged(event_type, minute)[0] for minute, event_type in enumerate(event_types)]


def test_a_completed_order_passes(make_logged: MakeLogged) -> None:
    report = check(
        _log(make_logged, HAPPY_PATH), now=START + timedelta(days=1), deadlines=DEADLINES
    )
    assert report.ok, render(report)
    assert report.states() == {"completed": 1}
    assert report.carts_checked_out == 1


def test_a_republished_event_is_counted_once(make_logged: MakeLogged) -> None:
    log = _log(make_logged, HAPPY_PATH)
    captured = next(e for e in log if e.envelope and e.envelope.event_type == "PaymentCaptured")
    report = check([*log, captured], now=START + timedelta(days=1), deadlines=DEADLINES)
    assert report.ok, render(report)


def test_a_second_capture_is_a_violation(make_logged: MakeLogged) -> None:
    log = _log(make_logged, HAPPY_PATH)
    log.append(make_logged("PaymentCaptured", 20)[0])  # a different event: charged again
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    codes = {v.code for v in report.violations}
    assert "captured_twice" in codes
    assert "capture_differs_from_total" in codes


def test_refunding_more_than_was_captured_is_a_violation(make_logged: MakeLogged) -> None:
    log = _log(make_logged, HAPPY_PATH)
    log.append(
        make_logged(
            "RefundIssued",
            30,
            amount={"amount": "60.00", "currency": "EUR"},
            total_refunded={"amount": "60.00", "currency": "EUR"},
        )[0]
    )
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    assert [v.code for v in report.violations] == ["refunded_over_captured"]


def test_the_same_refund_issued_twice_is_a_violation(make_logged: MakeLogged) -> None:
    log = _log(make_logged, HAPPY_PATH)
    log += [make_logged("RefundIssued", 30)[0], make_logged("RefundIssued", 31)[0]]
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    assert [v.code for v in report.violations] == ["refunded_twice"]


def test_shipping_without_a_capture_is_a_violation(make_logged: MakeLogged) -> None:
    log = _log(make_logged, [t for t in HAPPY_PATH if t != "PaymentCaptured"])
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    assert "shipped_not_charged" in {v.code for v in report.violations}


@pytest.mark.parametrize(("minutes_later", "violations"), [(20, []), (40, ["charged_not_shipped"])])
def test_a_charge_without_shipment_is_fine_until_its_deadline(
    make_logged: MakeLogged, minutes_later: int, violations: list[str]
) -> None:
    log = _log(make_logged, HAPPY_PATH[:5])  # ... PaymentCaptured at minute 4
    report = check(log, now=START + timedelta(minutes=4 + minutes_later), deadlines=DEADLINES)
    assert report.states() == {"awaiting_shipment": 1}
    assert [v.code for v in report.violations] == violations


def test_a_declined_order_with_its_stock_released_is_final(make_logged: MakeLogged) -> None:
    log = _log(
        make_logged,
        [
            "CartCheckedOut",
            "OrderPlaced",
            "StockReserved",
            "PaymentDeclined",
            "ReservationReleased",
        ],
    )
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    assert report.ok, render(report)
    assert report.states() == {"declined": 1}


def test_a_declined_order_still_holding_stock_is_stuck_after_the_deadline(
    make_logged: MakeLogged,
) -> None:
    log = _log(make_logged, ["CartCheckedOut", "OrderPlaced", "StockReserved", "PaymentDeclined"])
    report = check(log, now=START + timedelta(hours=1), deadlines=DEADLINES)
    assert report.states() == {"awaiting_compensation": 1}
    assert [v.code for v in report.violations] == ["stuck"]


def test_out_of_stock_is_final_once_the_authorisation_is_voided(make_logged: MakeLogged) -> None:
    log = _log(
        make_logged,
        ["CartCheckedOut", "OrderPlaced", "PaymentAuthorized", "StockUnavailable", "PaymentVoided"],
    )
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    assert report.ok, render(report)
    assert report.states() == {"out_of_stock": 1}


def test_a_cart_checked_out_into_two_orders_is_a_violation(make_logged: MakeLogged) -> None:
    log = _log(make_logged, HAPPY_PATH)
    other = "0b6f1d2e-3a4b-4d7e-9a52-5f0c6a8e3c1b"
    log.append(make_logged("CartCheckedOut", 40, order_id=other)[0])
    report = check(log, now=START + timedelta(days=1), deadlines=DEADLINES)
    codes = [v.code for v in report.violations]
    assert "cart_with_several_orders" in codes
    assert "checked_out_without_order" in codes
    assert ORDER_ID in report.orders


def test_events_of_an_order_whose_placement_is_not_in_the_log_are_listed_not_judged(
    make_logged: MakeLogged,
) -> None:
    log = _log(make_logged, ["PaymentCaptured", "ShipmentDispatched"])  # retention took the rest
    report = check(log, now=START + timedelta(days=30), deadlines=DEADLINES)
    assert report.ok, render(report)
    assert report.orphans == [ORDER_ID]
    assert report.orders == {}
    assert "not judged: 1 order(s)" in render(report)
