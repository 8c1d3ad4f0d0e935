"""Any record on a topic: the check and the timeline count it or show it, and never fail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import ORDER_ID
from orderflow_ops.cli import default_fulfillment_url, interpret_reconciliation
from orderflow_ops.event_log import LoggedEvent, logged
from orderflow_ops.invariants import Deadlines, check, render
from orderflow_ops.timeline import build_timeline, render_text

MakeLogged = Callable[..., tuple[LoggedEvent, Envelope]]  # the conftest fixture

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _record(value: bytes, topic: str = "orders") -> LoggedEvent:
    return logged(
        SimpleNamespace(topic=topic, partition=0, offset=7, timestamp=0, value=value, headers=[])
    )


def test_a_naive_timestamp_is_unreadable_and_sorts_beside_aware_ones(
    make_logged: MakeLogged,
) -> None:
    placed, _ = make_logged("OrderPlaced", 0)
    naive = LoggedEvent(
        topic="orders",
        partition=0,
        offset=9,
        timestamp_ms=0,
        envelope=None,
        raw={"occurred_at": "2026-11-24T09:00:00", "data": {"order_id": ORDER_ID}},
        envelope_error="occurred_at: no time zone",
    )

    report = check([naive, placed], now=START, deadlines=Deadlines())

    assert naive.occurred_at is None
    assert report.unreadable == [naive]
    assert [e.event_type for e in build_timeline(ORDER_ID, [naive, placed])] == ["?", "OrderPlaced"]


def test_wrong_types_unknown_types_and_deep_nesting_are_unreadable_not_errors() -> None:
    wrong = b'{"event_id": "5f0c6a8e-3c1b-4d7e-9a52-0b6f1d2e3a4b", "event_type": "OrderPlaced",'
    wrong += b' "schema_version": 1, "occurred_at": "2026-11-24T09:00:00Z", "producer": "cart",'
    wrong += b' "correlation_id": "c", "aggregate_id": "a", "data": {"total": 5}}'
    records = [
        _record(wrong),
        _record(wrong.replace(b'"OrderPlaced"', b'"OrderTeleported"')),
        _record(b"[" * 100_000 + b"]" * 100_000),
        _record(b"\xff\xfe"),
        _record(b"{}", topic="orders.dlq"),  # a dead letter: expected, not unreadable
    ]

    report = check(records, now=START, deadlines=Deadlines())

    assert len(report.unreadable) == 4
    assert report.dead_letters == 1
    assert "4 unreadable" in render(report)
    assert "orders[0]@7" in render(report)


def test_a_record_nested_deeper_than_python_recurses_still_gets_a_timeline() -> None:
    nested: object = {"order_id": ORDER_ID}
    for _ in range(5000):
        nested = [nested]
    deep = LoggedEvent("payments", 0, 1, 0, None, raw={"data": {"x": nested, "reason": nested}})

    entries = build_timeline(ORDER_ID, [deep])

    assert len(entries) == 1
    assert "reason=" in render_text(ORDER_ID, entries)


def test_an_empty_log_says_nothing_was_checked() -> None:
    report = check([], now=START, deadlines=Deadlines())
    assert report.ok
    assert "nothing to check" in render(report)
    assert "no violations" not in render(report)


def test_an_out_of_stock_order_never_authorised_is_final(make_logged: MakeLogged) -> None:
    log = [
        make_logged(event_type, minute)[0]
        for minute, event_type in enumerate(
            ["CartCheckedOut", "OrderPlaced", "StockUnavailable", "OrderCancelled"]
        )
    ]
    report = check(log, now=START + timedelta(days=1), deadlines=Deadlines())
    assert report.ok, render(report)
    assert report.states() == {"out_of_stock": 1}


def test_a_checkout_request_is_answered_by_an_event_it_caused(make_logged: MakeLogged) -> None:
    asked, request = make_logged("CheckoutRequested", 0)
    rejected, _ = make_logged("CheckoutRejected", 1, caused_by=request)
    unanswered, _ = make_logged("CheckoutRequested", 2)
    deadlines = Deadlines(checkout_answer=timedelta(minutes=1))

    settling = check(
        [asked, rejected, unanswered],
        now=START + timedelta(minutes=2, seconds=30),
        deadlines=deadlines,
    )
    late = check(
        [asked, rejected, unanswered], now=START + timedelta(minutes=4), deadlines=deadlines
    )

    assert settling.ok, render(settling)
    assert [v.code for v in late.violations] == ["checkout_unanswered"]
    assert str(unanswered.envelope.event_id) in late.violations[0].detail  # type: ignore[union-attr]


def test_fulfillments_port_setting_is_the_default_for_the_stock_check() -> None:
    assert default_fulfillment_url({"FULFILLMENT_HTTP_PORT": "18123"}) == "http://127.0.0.1:18123"
    assert default_fulfillment_url({"FULFILLMENT_HTTP_PORT": "0"}) == "http://127.0.0.1:8003"
    assert default_fulfillment_url({}) == "http://127.0.0.1:8003"


def test_a_reconciliation_of_no_order_is_reported_as_nothing_checked() -> None:
    nothing = "0 order(s) checked, 0 mismatched, 4 in flight (skipped), 0 ledger imbalance(s)\n"
    some = "12 order(s) checked, 0 mismatched, 1 in flight (skipped), 0 ledger imbalance(s)\n"

    assert interpret_reconciliation(0, nothing + "RECONCILED", 60).checked == (
        "0 order(s) in the payment ledger"
    )
    assert interpret_reconciliation(0, some + "RECONCILED", 60).checked == (
        "12 order(s) in the payment ledger"
    )
    assert not interpret_reconciliation(1, some + "MISMATCHES: 1", 60).ok


def test_what_every_service_refuses_is_no_fact_for_the_check() -> None:
    # Review (helper 134): a PaymentCaptured on warehouse.events, or a record keyed otherwise
    # than its aggregate, is dead-lettered by every service (wrong_topic, invalid_envelope)
    # but was counted by the check as a fact: a false "charged" or "shipped" verdict.
    from orderflow_contracts.events import PaymentCaptured
    from orderflow_contracts.examples import example_data

    event = PaymentCaptured.model_validate(example_data("PaymentCaptured"))
    envelope = Envelope.wrap(event, producer="warehouse-1", correlation_id="journey-1")

    def read(topic: str, key: bytes | None) -> LoggedEvent:
        value = envelope.to_bytes()
        return logged(
            SimpleNamespace(
                topic=topic, partition=0, offset=1, timestamp=0, key=key, value=value, headers=[]
            )
        )

    assert read("p.payments", envelope.key).event == event
    for forged in (read("p.warehouse.events", envelope.key), read("p.payments", b"other")):
        assert forged.event is None
        assert forged.unreadable
    assert read("p.payments", None).event is None  # no key: not the aggregate's
