"""The payment flow against real Kafka and PostgreSQL: authorise, capture, void, decline,
transient failures, refunds, cancellations and expiry."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
import structlog
from orderflow_contracts.events.payments import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    RefundFailed,
    RefundIssued,
)
from orderflow_localinfra.discovery import Infrastructure
from orderflow_payment.domain.providers import cancellation_refund_id

from services.payment.tests.builders import (
    envelope,
    order_cancelled,
    order_placed,
    refund_requested,
    reservation_released,
    stock_reserved,
    stock_unavailable,
)
from services.payment.tests.harness import PaymentRun, event_types, payment_service

pytestmark = pytest.mark.integration


async def captured_order(run: PaymentRun, total: str = "55.44") -> uuid.UUID:
    order = order_placed(total=total)
    await run.publish(order, stock_reserved(order.order_id))
    assert await run.wait_for_status(order.order_id, "captured") == "captured"
    return order.order_id


async def test_authorise_then_capture_once_stock_is_reserved(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order = order_placed(total="55.44")
        with structlog.testing.capture_logs() as logs:
            await run.publish(order)
            assert await run.wait_for_status(order.order_id, "authorised") == "authorised"
            await run.publish(stock_reserved(order.order_id))
            published = await run.published(2)
        sandbox = await run.sandbox_operations(order.order_id)
        ledger = await run.ledger(order.order_id)

    assert event_types(published) == ["PaymentAuthorized", "PaymentCaptured"]
    authorised = published[0].parse_event()
    captured = published[1].parse_event()
    assert isinstance(authorised, PaymentAuthorized)
    assert isinstance(captured, PaymentCaptured)
    assert (authorised.order_id, str(authorised.amount)) == (order.order_id, "55.44 EUR")
    assert (authorised.method, authorised.provider) == ("visa", "sandbox")
    assert authorised.expires_at == run.clock.now() + timedelta(days=7)
    assert (captured.payment_id, str(captured.amount)) == (authorised.payment_id, "55.44 EUR")
    assert published[1].causation_id is not None
    assert sandbox == [("authorise", "approved", 5544), ("capture", "approved", 5544)]
    assert ledger == [
        ("authorisation", "authorisation_holds", 5544),
        ("authorisation", "customer_authorisations", -5544),
        ("capture", "customer_authorisations", 5544),
        ("capture", "authorisation_holds", -5544),
        ("capture", "provider_receivable", 5544),
        ("capture", "sales", -5544),
    ]
    assert logs, "the flow logs"
    assert all("tok_visa_approve" not in repr(entry) for entry in logs), "tokens are masked"
    assert any(entry.get("token") == "tok_…rove" for entry in logs)


async def test_stock_reserved_before_the_order_is_authorised_captures_on_authorisation(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order = order_placed(total="12000", currency="JPY", method="mastercard")
        await run.publish(stock_reserved(order.order_id))
        await run.publish(order)
        published = await run.published(2)
        status = await run.wait_for_status(order.order_id, "captured")
        ledger = await run.ledger(order.order_id)

    assert event_types(published) == ["PaymentAuthorized", "PaymentCaptured"]
    assert status == "captured"
    assert [str(e.data["amount"]["amount"]) for e in published] == ["12000", "12000"]
    assert sum(amount for _, _, amount in ledger) == 0
    assert ("capture", "provider_receivable", 12000) in ledger


async def test_stock_unavailable_cancellation_and_released_reservation_void_the_authorisation(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        orders = [order_placed(total="10.00") for _ in range(3)]
        await run.publish(*orders)
        for order in orders:
            assert await run.wait_for_status(order.order_id, "authorised") == "authorised"
        await run.publish(
            stock_unavailable(orders[0].order_id),
            order_cancelled(orders[1].order_id),
            reservation_released(orders[2].order_id),
        )
        for order in orders:
            assert await run.wait_for_status(order.order_id, "voided") == "voided"
        # A late StockReserved must not capture a voided payment.
        late = await run.publish(stock_reserved(orders[0].order_id))
        assert await run.wait_applied(*late) == 1
        published = await run.published(6)
        outbox = [await run.outbox_types(o.order_id) for o in orders]
        sandbox = await run.sandbox_operations(orders[0].order_id)
        ledger = await run.ledger(orders[0].order_id)

    voids = [e.parse_event() for e in published if e.event_type == "PaymentVoided"]
    assert {
        (str(v.order_id), v.reason, str(v.amount)) for v in voids if isinstance(v, PaymentVoided)
    } == {
        (str(orders[0].order_id), "stock_unavailable", "10.00 EUR"),
        (str(orders[1].order_id), "order_cancelled", "10.00 EUR"),
        (str(orders[2].order_id), "reservation_released", "10.00 EUR"),
    }
    assert outbox == [["PaymentAuthorized", "PaymentVoided"]] * 3
    assert sandbox == [("authorise", "approved", 1000), ("void", "approved", 1000)]
    assert ledger[2:] == [
        ("void", "customer_authorisations", 1000),
        ("void", "authorisation_holds", -1000),
    ]


async def test_declines_carry_the_providers_reason(
    orderflow_infrastructure: Infrastructure,
) -> None:
    tokens = {
        "tok_visa_decline_insufficient_funds": "insufficient_funds",
        "tok_mastercard_decline_do_not_honour": "do_not_honour",
        "tok_visa_decline_expired_card": "expired_card",
        "tok_paypal_fraud": "fraud_suspected",
        "tok_visa_invalid": "invalid_token",
    }
    methods = {"visa": "visa", "mastercard": "mastercard", "paypal": "paypal"}
    async with payment_service(orderflow_infrastructure) as run:
        orders = {
            token: order_placed(method=methods[token.split("_")[1]], token=token)
            for token in tokens
        }
        await run.publish(*orders.values())
        published = await run.published(len(tokens))
        # Stock reserved after a decline: nothing to capture.
        first = next(iter(orders.values()))
        late = await run.publish(stock_reserved(first.order_id))
        assert await run.wait_applied(*late) == 1
        statuses = {t: await run.status(o.order_id) for t, o in orders.items()}
        outbox_first = await run.outbox_types(first.order_id)
        ledger_first = await run.ledger(first.order_id)

    declined = {str(e.aggregate_id): e.parse_event() for e in published}
    for token, order in orders.items():
        event = declined[str(order.order_id)]
        assert isinstance(event, PaymentDeclined)
        assert event.reason_code == tokens[token]
        assert str(event.amount) == "55.44 EUR"
        assert event.message
    assert set(statuses.values()) == {"declined"}
    assert outbox_first == ["PaymentDeclined"]
    assert ledger_first == [], "a decline moves no money"


async def test_transient_failures_are_retried_with_the_same_key_until_success(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        failing = order_placed(token="tok_visa_5xx_2")
        timing_out = order_placed(token="tok_visa_timeout_1")
        await run.publish(failing, timing_out)
        await run.publish(stock_reserved(failing.order_id), stock_reserved(timing_out.order_id))
        for order in (failing, timing_out):
            assert await run.wait_for_status(order.order_id, "captured") == "captured"
        requests_failing = await run.sandbox_requests(failing.order_id)
        requests_timeout = await run.sandbox_requests(timing_out.order_id)
        operations_timeout = await run.sandbox_operations(timing_out.order_id)
        outbox = await run.outbox_types(failing.order_id)

    assert requests_failing == [
        ("authorise", 1, "unavailable"),
        ("authorise", 2, "unavailable"),
        ("authorise", 3, "approved"),
        ("capture", 1, "unavailable"),
        ("capture", 2, "unavailable"),
        ("capture", 3, "approved"),
    ]
    # The provider did the work on the first call but the answer was lost: the retry with
    # the same idempotency key gets the original answer, and nothing is done twice.
    assert requests_timeout == [
        ("authorise", 1, "timeout"),
        ("authorise", 2, "replayed"),
        ("capture", 1, "timeout"),
        ("capture", 2, "replayed"),
    ]
    assert operations_timeout == [("authorise", "approved", 5544), ("capture", "approved", 5544)]
    assert outbox == ["PaymentAuthorized", "PaymentCaptured"]


async def test_a_provider_down_past_the_retries_declines_with_provider_unavailable(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure, provider_retry_attempts=3) as run:
        order = order_placed(token="tok_visa_unavailable")
        await run.publish(order)
        (declined,) = await run.published(1)
        requests = await run.sandbox_requests(order.order_id)

    event = declined.parse_event()
    assert isinstance(event, PaymentDeclined)
    assert event.reason_code == "provider_unavailable"
    assert "after 3 attempts (http_503)" in event.message
    assert requests == [("authorise", n, "unavailable") for n in (1, 2, 3)]


async def test_an_authorisation_timing_out_past_the_retries_is_never_declined(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # The sandbox places the hold on every call and loses the first five answers: a decline
    # after the handler's three attempts would leave the customer's money held. The batch is
    # retried instead, and the sixth call (same key) gets the original answer.
    async with payment_service(orderflow_infrastructure, provider_retry_attempts=3) as run:
        order = order_placed(token="tok_visa_timeout_5")
        await run.publish(order)
        assert await run.wait_for_status(order.order_id, "authorised") == "authorised"
        requests = await run.sandbox_requests(order.order_id)
        operations = await run.sandbox_operations(order.order_id)
        outbox = await run.outbox_types(order.order_id)

    assert [response for _, _, response in requests] == ["timeout"] * 5 + ["replayed"]
    assert operations == [("authorise", "approved", 5544)], "one hold, the one announced"
    assert outbox == ["PaymentAuthorized"]


async def test_refund_partial_then_full_then_over_the_capture_fails(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order_id = await captured_order(run, total="55.44")
        rma_id = uuid.uuid4()
        first = refund_requested(order_id, "20.00", rma_id=rma_id)
        await run.publish(first)
        assert await run.wait_for_status(order_id, "partially_refunded") == "partially_refunded"
        rest = refund_requested(order_id, "35.44")
        await run.publish(rest)
        assert await run.wait_for_status(order_id, "refunded") == "refunded"
        too_much = refund_requested(order_id, "0.01")
        # The same refund asked again (a new message, same refund_id) changes nothing.
        again = refund_requested(order_id, "20.00", refund_id=first.refund_id, rma_id=rma_id)
        await run.publish(too_much, again)
        assert await run.wait_for_refund(too_much.refund_id) == "failed"
        published = await run.published(5)
        sandbox = await run.sandbox_operations(order_id)
        ledger = await run.ledger(order_id)
        outbox = await run.outbox_types(order_id)

    assert event_types(published) == [
        "PaymentAuthorized",
        "PaymentCaptured",
        "RefundIssued",
        "RefundIssued",
        "RefundFailed",
    ]
    issued = [e for e in (p.parse_event() for p in published[2:4]) if isinstance(e, RefundIssued)]
    assert [(str(e.amount), str(e.total_refunded)) for e in issued] == [
        ("20.00 EUR", "20.00 EUR"),
        ("35.44 EUR", "55.44 EUR"),
    ]
    assert issued[0].rma_id == rma_id
    failed = published[4].parse_event()
    assert isinstance(failed, RefundFailed)
    assert (failed.refund_id, failed.reason_code) == (too_much.refund_id, "exceeds_captured")
    assert failed.message == (
        "refund of 0.01 EUR exceeds what is refundable: 55.44 EUR captured, "
        "55.44 EUR already refunded, 0.00 EUR left"
    )
    assert outbox.count("RefundIssued") == 2, "the repeated refund_id moved nothing"
    assert sandbox == [
        ("authorise", "approved", 5544),
        ("capture", "approved", 5544),
        ("refund", "approved", 2000),
        ("refund", "approved", 3544),
    ]
    assert ledger[-4:] == [
        ("refund", "refunds", 2000),
        ("refund", "provider_receivable", -2000),
        ("refund", "refunds", 3544),
        ("refund", "provider_receivable", -3544),
    ]


async def test_refunds_that_cannot_be_made_fail_with_a_reason(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        captured = await captured_order(run, total="30.00")
        over = refund_requested(captured, "30.01")
        wrong_currency = refund_requested(captured, "10.00", currency="USD")
        authorised_only = order_placed(total="9.99")
        await run.publish(authorised_only)
        await run.wait_for_status(authorised_only.order_id, "authorised")
        not_captured = refund_requested(authorised_only.order_id, "5.00")
        refused_order = order_placed(total="40.00", token="tok_visa_refund_refused")
        await run.publish(refused_order, stock_reserved(refused_order.order_id))
        await run.wait_for_status(refused_order.order_id, "captured")
        refused = refund_requested(refused_order.order_id, "40.00")
        requests = (over, wrong_currency, not_captured, refused)
        await run.publish(*requests)
        for request in requests:
            assert await run.wait_for_refund(request.refund_id) == "failed"
        published = await run.published(8)
        status = await run.status(captured)

    failed_events = [e.parse_event() for e in published if e.event_type == "RefundFailed"]
    failures = {f.refund_id: f for f in failed_events if isinstance(f, RefundFailed)}
    assert {r: f.reason_code for r, f in failures.items()} == {
        over.refund_id: "exceeds_captured",
        wrong_currency.refund_id: "currency_mismatch",
        not_captured.refund_id: "not_captured",
        refused.refund_id: "provider_refused",
    }
    assert str(failures[over.refund_id].amount) == "30.01 EUR"
    assert "30.00 EUR left" in failures[over.refund_id].message
    assert status == "captured", "nothing was refunded"


async def test_an_order_cancelled_after_capture_is_refunded_in_full(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        order_id = await captured_order(run, total="70.00")
        await run.publish(refund_requested(order_id, "20.00"))
        await run.wait_for_status(order_id, "partially_refunded")
        cancellation = envelope(order_cancelled(order_id))
        await run.publish(cancellation, cancellation)
        assert await run.wait_for_status(order_id, "refunded") == "refunded"
        published = await run.published(4)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{run.runtime.http_port}") as http:
            shown = (await http.get(f"/payments/{order_id}")).json()
            unknown = await http.get(f"/payments/{uuid.uuid4()}")

    refund = published[3].parse_event()
    assert isinstance(refund, RefundIssued)
    assert refund.refund_id == cancellation_refund_id(order_id)
    assert (str(refund.amount), str(refund.total_refunded)) == ("50.00 EUR", "70.00 EUR")
    payment = shown["payment"]
    assert (payment["status"], payment["token"]) == ("refunded", "tok_…rove")
    assert (payment["captured"], payment["refunded"]) == (
        {"amount": "70.00", "currency": "EUR"},
        {"amount": "70.00", "currency": "EUR"},
    )
    assert shown["cancelled_reason"] == "customer_requested"
    assert [r["amount"]["amount"] for r in shown["refunds"]] == ["20.00", "50.00"]
    assert sum(Decimal(e["amount"]["amount"]) for e in shown["ledger"]) == 0
    assert len(shown["ledger"]) == 10
    assert unknown.status_code == 404


async def test_an_authorisation_never_captured_expires_and_is_voided(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(
        orderflow_infrastructure, authorization_ttl_s=3600, expiry_sweep_interval_s=0.1
    ) as run:
        order = order_placed()
        await run.publish(order)
        assert await run.wait_for_status(order.order_id, "authorised") == "authorised"
        run.clock.advance(timedelta(minutes=59))
        still = await run.status(order.order_id)
        run.clock.advance(timedelta(minutes=1))
        assert await run.wait_for_status(order.order_id, "voided") == "voided"
        published = await run.published(2)
        # Stock arriving after the expiry must not capture.
        late = await run.publish(stock_reserved(order.order_id))
        assert await run.wait_applied(*late) == 1
        outbox = await run.outbox_types(order.order_id)

    assert still == "authorised"
    voided = published[1].parse_event()
    assert isinstance(voided, PaymentVoided)
    assert voided.reason == "authorization_expired"
    assert published[1].correlation_id == published[0].correlation_id
    assert outbox == ["PaymentAuthorized", "PaymentVoided"]


async def test_an_order_already_dead_is_never_authorised(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        unavailable = order_placed()
        cancelled = order_placed()
        facts = await run.publish(
            stock_unavailable(unavailable.order_id), order_cancelled(cancelled.order_id)
        )
        assert await run.wait_applied(*facts) == 2
        placed = await run.publish(unavailable, cancelled)
        assert await run.wait_applied(*placed) == 2
        state = [
            (
                await run.status(o.order_id),
                await run.sandbox_operations(o.order_id),
                await run.outbox_types(o.order_id),
            )
            for o in (unavailable, cancelled)
        ]

    assert state == [(None, [], []), (None, [], [])]
