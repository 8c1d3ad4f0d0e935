"""The returns service on real Kafka and PostgreSQL, fed what the other services publish."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    LineQuantity,
    PostalAddress,
    RefundLine,
    RefundRequested,
    ReturnAuthorized,
    ReturnRejected,
)
from orderflow_contracts.money import Money
from orderflow_returns.domain.identifiers import refund_id_for, rma_id_for
from orderflow_returns.entrypoints.cli import app as cli
from typer.testing import CliRunner, Result

from services.returns.tests.integration.returns_support import Order, ReturnsHarness
from tests.support.kafka_tools import eventually, publish_raw, read_topic

pytestmark = pytest.mark.integration

DELIVERED = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)
BALL, SPLINT = "MB-SPIKY-8CM", "NS-NIGHT-M"


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


async def authorised(h: ReturnsHarness, order: Order, lines: list[tuple[str, int]]) -> uuid.UUID:
    """Request a return of ``lines`` now and return the RMA id it was authorised under."""
    before = len(await h.emitted(order.order_id, "ReturnAuthorized"))
    request = order.return_requested(lines)
    await h.publish(request)
    events = await h.wait_emitted(order.order_id, "ReturnAuthorized", before + 1)
    assert events[-1].return_request_id == request.return_request_id
    rma_id: uuid.UUID = events[-1].rma_id
    return rma_id


async def rejection(h: ReturnsHarness, order: Order, count: int) -> ReturnRejected:
    events = await h.wait_emitted(order.order_id, "ReturnRejected", count)
    last: ReturnRejected = events[-1]
    return last


async def test_authorised_then_parcel_received_refund_requested_issued_and_rma_closed(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    h.clock.set(DELIVERED + timedelta(days=10))
    order = Order()
    await order.shipped_and_delivered(h, DELIVERED)

    request = order.return_requested([(BALL, 2), (SPLINT, 1)], request_id="ret-all")
    asked = await h.publish(request)
    rma_id = rma_id_for(order.order_id, "ret-all")
    [authorisation] = await h.wait_emitted(order.order_id, "ReturnAuthorized")
    assert authorisation == ReturnAuthorized(
        order_id=order.order_id,
        rma_id=rma_id,
        return_request_id="ret-all",
        lines=[LineQuantity(sku=BALL, quantity=2), LineQuantity(sku=SPLINT, quantity=1)],
        return_by=date(2025, 2, 27),  # authorised 13 Feb + 14 days to post the parcel
    )
    assert (await h.rma(rma_id))["state"] == "authorised"

    h.clock.advance(timedelta(days=5))
    parcel = [(BALL, 2, "resellable"), (SPLINT, 1, "damaged")]  # damaged is refunded too
    await h.publish(Order.parcel(rma_id, parcel, h.clock.now()))
    [refund] = await h.wait_emitted(order.order_id, "RefundRequested")
    assert refund == RefundRequested(
        order_id=order.order_id,
        refund_id=refund_id_for(rma_id, 1),
        rma_id=rma_id,
        amount=eur("60.43"),  # 2 x 9.25 + 36.94 + the 4.99 shipping fee: the whole order
        lines=[
            RefundLine(sku=BALL, quantity=2, amount=eur("18.50")),
            RefundLine(sku=SPLINT, quantity=1, amount=eur("36.94")),
        ],
        shipping_refund=eur("4.99"),
    )
    assert (await h.rma(rma_id))["state"] == "refund_requested"

    await h.publish(order.refund_issued(refund.refund_id, "60.43", "60.43"))
    closed = await _state_becomes(h, rma_id, "closed")
    assert closed["refund_amount"] == eur("60.43").amount
    assert closed["closed_at"] == h.clock.now()

    on_kafka = await h.on_kafka(order.order_id, 2)
    assert [(e.event_type, e.sequence, e.producer) for e in on_kafka] == [
        ("ReturnAuthorized", 1, "returns"),
        ("RefundRequested", 2, "returns"),
    ]
    # The refund belongs to the customer's return journey: the request's correlation id.
    assert {e.correlation_id for e in on_kafka} == {asked.correlation_id}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{h.runtime.http_port}") as http:
        response = await http.get(f"/rmas/{rma_id}")
        missing = await http.get(f"/rmas/{uuid.uuid4()}")
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["refund_amount"], body["shipping_refund"]) == (
        "closed",
        "60.43",
        "4.99",
    )
    assert body["lines"] == [
        {"sku": BALL, "authorised": 2, "received": 2, "damaged": 0, "returned": 2,
         "refund_amount": "18.50"},
        {"sku": SPLINT, "authorised": 1, "received": 1, "damaged": 1, "returned": 1,
         "refund_amount": "36.94"},
    ]  # fmt: skip
    assert missing.status_code == 404


async def _state_becomes(h: ReturnsHarness, rma_id: uuid.UUID, state: str) -> dict[str, object]:
    row = await eventually(lambda: h.rma(rma_id), lambda r: r["state"] == state)
    assert row["state"] == state
    return row


async def test_each_rejection_reason_and_both_sides_of_the_window_edge(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    order = Order()
    h.clock.set(DELIVERED - timedelta(days=3))
    await h.publish(order.placed())
    await h.publish(order.captured())
    await h.publish(order.delivered(DELIVERED, [(BALL, 2)]), occurred_at=DELIVERED)  # no splint
    await h.processed()
    # The service is 10 days behind: requests are judged at the time the customer made them.
    h.clock.set(DELIVERED + timedelta(days=40))
    last_second_of_day_30 = datetime(2025, 3, 5, 23, 59, 59, 999999, tzinfo=UTC)
    first_instant_of_day_31 = datetime(2025, 3, 6, 0, 0, tzinfo=UTC)
    day_5 = DELIVERED + timedelta(days=5)

    await h.publish(order.return_requested([(BALL, 1)]), occurred_at=last_second_of_day_30)
    [inside] = await h.wait_emitted(order.order_id, "ReturnAuthorized")
    assert inside.return_by == date(2025, 3, 15) + timedelta(days=14)  # from the authorisation

    expected = [
        ([(BALL, 1)], first_instant_of_day_31, "window_expired",
         f"{BALL}: the 30-day return window closed (last day 2025-03-05)"),
        ([(SPLINT, 1)], day_5, "not_delivered",
         f"{SPLINT} had not been delivered when this request was made"),
        ([(BALL, 2)], day_5, "quantity_exceeds_delivered",
         f"{BALL}: 2 requested, 1 returnable (2 delivered, 1 already returned)"),
        ([("SOCK-1", 1)], day_5, "unknown_sku", "SOCK-1 is not part of this order"),
    ]  # fmt: skip
    for count, (lines, asked_at, code, message) in enumerate(expected, start=1):
        request = order.return_requested(lines)
        await h.publish(request, occurred_at=asked_at)
        rejected = await rejection(h, order, count)
        assert (rejected.return_request_id, rejected.reason_code, rejected.message) == (
            request.return_request_id,
            code,
            message,
        )

    stranger = Order()  # nothing known about it
    await h.publish(stranger.return_requested([(BALL, 1)]))
    unknown = await rejection(h, stranger, 1)
    assert (unknown.reason_code, unknown.message) == (
        "unknown_order",
        "We have no delivered order with this id.",
    )
    assert len(await h.emitted(order.order_id, "ReturnAuthorized")) == 1


async def test_partial_returns_refund_exactly_what_was_paid_with_the_shipping_fee_once(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    h.clock.set(DELIVERED + timedelta(days=2))
    order = Order()
    await order.shipped_and_delivered(h, DELIVERED)

    refunds: list[RefundRequested] = []
    refunded_total = Money.zero("EUR")
    for number, (sku, qty) in enumerate([(BALL, 1), (SPLINT, 1), (BALL, 1)], start=1):
        rma_id = await authorised(h, order, [(sku, qty)])
        await h.publish(Order.parcel(rma_id, [(sku, qty, "resellable")], h.clock.now()))
        refund = (await h.wait_emitted(order.order_id, "RefundRequested", number))[-1]
        refunds.append(refund)
        refunded_total += refund.amount
        await h.publish(
            order.refund_issued(
                refund.refund_id, str(refund.amount.amount), str(refunded_total.amount)
            )
        )
        await _state_becomes(h, rma_id, "closed")
        h.clock.advance(timedelta(days=3))

    assert [(r.amount, r.shipping_refund) for r in refunds] == [
        (eur("9.25"), eur("0.00")),
        (eur("36.94"), eur("0.00")),
        (eur("14.24"), eur("4.99")),  # the last unit back: 9.25 + the shipping fee, once
    ]
    assert refunded_total == eur("60.43") == eur(str(order.total))

    await h.publish(order.return_requested([(BALL, 1)]))
    rejected = await rejection(h, order, 1)
    assert rejected.reason_code == "quantity_exceeds_delivered"


async def test_a_failed_refund_waits_for_ops_who_list_and_retry_it(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    order, rma_id, first = await _refund_failed(h, "provider_refused")
    failed = await _state_becomes(h, rma_id, "refund_failed")
    assert (failed["problem_code"], failed["problem_message"]) == (
        "provider_refused",
        "The provider refused the refund",
    )

    listed = await _cli(h, "rmas", "--state", "refund_failed", "--order", str(order.order_id))
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["rma_id"], row["state"], row["problem_code"], row["refund_amount"]) == (
        str(rma_id),
        "refund_failed",
        "provider_refused",
        "36.94",
    )

    retried = await _cli(h, "retry-refund", str(rma_id))
    second_id = refund_id_for(rma_id, 2)
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip() == f"refund {second_id} requested for 36.94 EUR"
    [_, second] = await h.wait_emitted(order.order_id, "RefundRequested", 2)
    assert (second.refund_id, second.amount, second.lines) == (
        second_id,
        eur("36.94"),
        first.lines,
    )
    again = await _cli(h, "retry-refund", str(rma_id))
    assert again.exit_code == 1
    assert again.stdout.strip() == f"RMA {rma_id} is refund_requested, not refund_failed"

    await h.publish(order.refund_issued(second_id, "36.94", "36.94"))
    await _state_becomes(h, rma_id, "closed")


@pytest.mark.parametrize("code", ["provider_unavailable", "outcome_unknown"])
async def test_a_refund_that_may_be_asked_again_is_retried_under_its_own_id(
    returns_harness: ReturnsHarness, code: str
) -> None:
    h = returns_harness
    order, rma_id, first = await _refund_failed(h, code)
    await _state_becomes(h, rma_id, "refund_failed")

    retried = await _cli(h, "retry-refund", str(rma_id))

    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip() == f"refund {first.refund_id} requested for 36.94 EUR"
    [_, again] = await h.wait_emitted(order.order_id, "RefundRequested", 2)
    assert (again.refund_id, again.amount) == (first.refund_id, eur("36.94"))
    stored = await h.runtime.pool.fetchrow(
        "SELECT state, failure_code, settled_at FROM returns.refunds WHERE refund_id = $1",
        first.refund_id,
    )
    assert stored is not None
    assert tuple(stored) == ("requested", None, None)
    await h.publish(order.refund_issued(first.refund_id, "36.94", "36.94"))
    await _state_becomes(h, rma_id, "closed")


async def _refund_failed(h: ReturnsHarness, code: str) -> tuple[Order, uuid.UUID, Any]:
    """A splint returned, its refund requested and failed with ``code``: the order, the RMA
    and the refund requested."""
    h.clock.set(DELIVERED + timedelta(days=1))
    order = Order()
    await order.shipped_and_delivered(h, DELIVERED)
    rma_id = await authorised(h, order, [(SPLINT, 1)])
    await h.publish(Order.parcel(rma_id, [(SPLINT, 1, "resellable")], h.clock.now()))
    [first] = await h.wait_emitted(order.order_id, "RefundRequested")
    await h.publish(order.refund_failed(first.refund_id, "36.94", code))
    return order, rma_id, first


async def _cli(h: ReturnsHarness, *args: str) -> Result:
    env = {
        "RETURNS_DATABASE_URL": h.infrastructure.service_database_urls["returns"],
        "KAFKA_TOPIC_PREFIX": h.prefix,
        "KAFKA_BOOTSTRAP_SERVERS": h.infrastructure.kafka_bootstrap_servers,
    }
    # The command runs its own event loop (asyncio.run), so it runs in a thread here.
    return await asyncio.to_thread(lambda: CliRunner().invoke(cli, list(args), env=env))


async def test_a_refund_is_never_requested_above_what_is_left_of_the_payment(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    h.clock.set(DELIVERED + timedelta(days=1))
    order = Order()
    await order.shipped_and_delivered(h, DELIVERED)
    # Payment refunded 50.00 of the 60.43 on its own (e.g. a goodwill gesture by support).
    await h.publish(order.refund_issued(uuid.uuid4(), "50.00", "50.00"))
    await h.processed()
    rma_id = await authorised(h, order, [(SPLINT, 1)])
    await h.publish(Order.parcel(rma_id, [(SPLINT, 1, "resellable")], h.clock.now()))

    stopped = await _state_becomes(h, rma_id, "refund_failed")
    assert (stopped["problem_code"], stopped["problem_message"]) == (
        "exceeds_paid",
        "refund of 36.94 EUR would exceed what is left to refund (10.43 EUR)",
    )
    await h.processed()
    assert await h.emitted(order.order_id, "RefundRequested") == []
    [announced] = await h.wait_emitted(order.order_id, "ReturnRefundStopped")
    assert (announced.rma_id, announced.reason_code) == (rma_id, "exceeds_paid")


async def test_a_refund_whose_outcome_is_unknown_leaves_room_for_itself_under_the_ceiling(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    order, _, unknown = await _refund_failed(h, "outcome_unknown")  # 36.94 of 60.43, maybe paid
    await h.publish(order.refund_issued(uuid.uuid4(), "20.00", "20.00"))
    await h.processed()
    rma_id = await authorised(h, order, [(BALL, 2)])
    await h.publish(Order.parcel(rma_id, [(BALL, 2, "resellable")], h.clock.now()))

    stopped = await _state_becomes(h, rma_id, "refund_failed")
    assert (stopped["problem_code"], stopped["problem_message"]) == (
        "exceeds_paid",
        "refund of 23.49 EUR would exceed what is left to refund (3.49 EUR)",
    )
    # The provider says it did not pay it: ops release it, and the balls fit.
    released = await _cli(h, "release-refund", str(unknown.refund_id))
    assert released.exit_code == 0, released.output
    assert released.stdout.startswith(f"refund {unknown.refund_id} released, not paid")
    assert (await _cli(h, "retry-refund", str(rma_id))).exit_code == 0
    [*_, balls] = await h.wait_emitted(order.order_id, "RefundRequested", 2)
    assert balls.amount == eur("23.49")


async def test_warranty_accepted_with_a_replacement_and_rejected_for_every_reason(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    h.clock.set(DELIVERED + timedelta(days=60))
    order = Order(country="FR")
    await order.shipped_and_delivered(h, DELIVERED)

    claim = order.warranty_claim(SPLINT, "DE")
    await h.publish(claim)
    [accepted] = await h.wait_emitted(order.order_id, "WarrantyClaimAccepted")
    [replacement] = await h.wait_emitted(order.order_id, "ReplacementRequested")
    assert (accepted.claim_id, accepted.sku, accepted.country_of_usage) == (
        claim.claim_id,
        SPLINT,
        "DE",
    )
    assert accepted.warranty_ends_on == date(2027, 2, 3)  # 24 months in Germany
    assert replacement.claim_id == claim.claim_id
    assert replacement.lines == [LineQuantity(sku=SPLINT, quantity=1)]
    assert replacement.ship_to == PostalAddress.model_validate(
        order.placed().ship_to.model_dump()
    )  # to the order's address
    assert replacement.ship_to.country == "FR"

    # The same unit again (the splint line has 1 unit), under a new claim id.
    await h.publish(order.warranty_claim(SPLINT, "DE"))
    # One ball on the last day of the 12-month US term, one the day after.
    h.clock.set(datetime(2026, 2, 4, 12, 0, tzinfo=UTC))
    last_day = datetime(2026, 2, 3, 23, 59, 59, tzinfo=UTC)
    await h.publish(order.warranty_claim(BALL, "US", "claim-us-last-day"), occurred_at=last_day)
    await h.publish(
        order.warranty_claim(BALL, "US", "claim-us-too-late"),
        occurred_at=datetime(2026, 2, 4, 0, 0, tzinfo=UTC),
    )
    rejected = await h.wait_emitted(order.order_id, "WarrantyClaimRejected", 2)
    assert [(r.reason_code, r.message) for r in rejected] == [
        ("already_claimed",
         f"{SPLINT}: 1 of 1 delivered units were already replaced under warranty; 0 left to claim"),
        ("warranty_expired", "The 12-month warranty in US ended on 2026-02-03"),
    ]  # fmt: skip
    accepted_all = await h.wait_emitted(order.order_id, "WarrantyClaimAccepted", 2)
    assert accepted_all[1].claim_id == "claim-us-last-day"
    assert accepted_all[1].warranty_ends_on == date(2026, 2, 3)
    assert len(await h.emitted(order.order_id, "ReplacementRequested")) == 2

    fresh = Order()
    h.clock.set(DELIVERED + timedelta(days=5))
    await fresh.shipped_and_delivered(h, DELIVERED)
    await h.publish(fresh.warranty_claim(BALL, "DE"))
    [within] = await h.wait_emitted(fresh.order_id, "WarrantyClaimRejected")
    assert (within.reason_code, within.message) == (
        "within_return_window",
        f"{BALL} is still inside the 30-day return window (until 2025-03-05): "
        "please request a return instead",
    )
    unknown = Order()
    await h.publish(unknown.warranty_claim(BALL, "DE"))
    [nothing] = await h.wait_emitted(unknown.order_id, "WarrantyClaimRejected")
    assert nothing.reason_code == "unknown_order"


async def test_out_of_order_and_duplicated_events_change_nothing_twice(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    h.clock.set(DELIVERED + timedelta(days=3))
    order = Order()
    # Fulfillment's delivery arrives before the cart's OrderPlaced has been read; a request
    # naming no customer (the contract allows it) is decided on the deliveries.
    delivery = await h.publish(order.delivered(DELIVERED), occurred_at=DELIVERED)
    anonymous = order.return_requested([(BALL, 2), (SPLINT, 1)], "ret-ooo", customer_id=None)
    request = await h.publish(anonymous)
    rma_id = rma_id_for(order.order_id, "ret-ooo")
    await h.wait_emitted(order.order_id, "ReturnAuthorized")
    # ... and even the parcel: the refund waits for the prices paid.
    parcel = await h.publish(
        Order.parcel(rma_id, [(BALL, 2, "resellable"), (SPLINT, 1, "resellable")], h.clock.now())
    )
    await h.processed()
    assert (await h.rma(rma_id))["state"] == "received"
    assert await h.emitted(order.order_id, "RefundRequested") == []

    placed = await h.publish(order.placed())
    captured = await h.publish(order.captured())
    [refund] = await h.wait_emitted(order.order_id, "RefundRequested")
    assert (refund.amount, refund.shipping_refund) == (eur("60.43"), eur("4.99"))
    issued = await h.publish(order.refund_issued(refund.refund_id, "60.43", "60.43"))
    claim = await h.publish(order.warranty_claim(SPLINT, "DE", "claim-ooo"))
    await _state_becomes(h, rma_id, "closed")

    # Every message again (redelivered: same event ids) ...
    for envelope in (delivery, request, parcel, placed, captured, issued, claim):
        await h.republish(envelope)
    # ... and every fact again under new event ids (a producer retrying after a crash).
    for envelope in (delivery, request, parcel, placed, captured, issued, claim):
        await h.publish(envelope.parse_event())
    await h.publish(order.refund_failed(refund.refund_id, "60.43", "provider_refused"))
    await h.processed()

    dead_letters = await h.runtime.pool.fetchval(
        "SELECT count(*) FROM returns.outbox WHERE event_type = 'DeadLetter' "
        "AND message_key IN ($1, $2)",
        str(order.order_id),
        str(rma_id),
    )
    assert dead_letters == 0  # repeated facts are answered by the domain, not by errors
    emitted = [type(e).__name__ for e in await h.emitted(order.order_id)]
    assert emitted == [
        "ReturnAuthorized",
        "RefundRequested",
        "WarrantyClaimRejected",  # within the return window, answered once
    ]
    rma = await h.rma(rma_id)
    assert (rma["state"], rma["refund_amount"], rma["refund_attempts"]) == (
        "closed",
        eur("60.43").amount,
        1,
    )
    refunds = await h.runtime.pool.fetch(
        "SELECT state, amount FROM returns.refunds WHERE order_id = $1", order.order_id
    )
    assert [(r["state"], r["amount"]) for r in refunds] == [("issued", eur("60.43").amount)]
    # The duplicated delivery did not double the delivered quantity: nothing is left to return.
    await h.publish(order.return_requested([(BALL, 1)]))
    assert (await rejection(h, order, 1)).reason_code == "quantity_exceeds_delivered"


async def test_a_parcel_for_an_unknown_rma_is_dead_lettered_with_the_reason(
    returns_harness: ReturnsHarness,
) -> None:
    h = returns_harness
    unknown = uuid.uuid4()
    await h.publish(Order.parcel(unknown, [(BALL, 1, "resellable")], h.clock.now()))
    [letter] = await read_topic(
        h.infrastructure.kafka_bootstrap_servers,
        h.prefix + "warehouse.events.dlq",
        expect=1,
    )
    headers = {name: value.decode() for name, value in letter.headers}
    assert headers["dlq.error_code"] == "unknown_rma"
    assert headers["dlq.reason"] == (f"no RMA {unknown}: a parcel must quote an authorised RMA id")


async def test_a_request_or_claim_the_contract_refuses_is_dead_lettered_and_answered(
    returns_harness: ReturnsHarness,
) -> None:
    # Review (helper 107): a blank reason or a country written "de" was dead-lettered and the
    # storefront, waiting on the request's id, never heard.
    h = returns_harness
    order = Order()
    request = json.loads(
        Envelope.wrap(
            order.return_requested([(BALL, 1)], request_id="ret-blank"),
            producer="storefront",
            correlation_id="journey-r",
        ).to_bytes()
    )
    request["data"]["reason"] = " "
    claim = json.loads(
        Envelope.wrap(
            order.warranty_claim(BALL, "DE", claim_id="claim-de"),
            producer="storefront",
            correlation_id="journey-c",
        ).to_bytes()
    )
    claim["data"]["country_of_usage"] = "de"
    key = str(order.order_id).encode()
    await publish_raw(
        h.infrastructure.kafka_bootstrap_servers,
        h.prefix + topics.STOREFRONT_RETURNS,
        [(key, json.dumps(request).encode()), (key, json.dumps(claim).encode())],
    )

    [rejected] = await h.wait_emitted(order.order_id, "ReturnRejected")
    [claim_rejected] = await h.wait_emitted(order.order_id, "WarrantyClaimRejected")
    assert (rejected.return_request_id, rejected.reason_code) == ("ret-blank", "invalid_request")
    assert "reason" in rejected.message
    assert (claim_rejected.claim_id, claim_rejected.reason_code) == ("claim-de", "invalid_request")
    assert "country_of_usage" in claim_rejected.message
    letters = await read_topic(
        h.infrastructure.kafka_bootstrap_servers,
        h.prefix + topics.STOREFRONT_RETURNS + ".dlq",
        expect=2,
    )
    assert len(letters) == 2
