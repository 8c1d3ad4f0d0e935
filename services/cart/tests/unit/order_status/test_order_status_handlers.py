"""The order-status use cases on in-memory repositories: what is stored, and what is read."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.handlers import (
    cart_order,
    customer_orders,
    order_status,
    project_order_event,
    record_checkout_rejection,
)
from orderflow_cart.order_status.ports import CheckoutRejection, StoredStatus
from orderflow_chassis.clock import SettableClock
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.testing import FakeTransactions
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CheckoutRejected, PaymentAuthorized
from orderflow_contracts.money import Money
from orderflow_contracts.policies import DEFAULT_RETURN_WINDOW, DEFAULT_WARRANTY_POLICY

from services.cart.tests.fakes import FakeCartRepositories, fake_transactions
from services.cart.tests.order_events import T0, OrderJourney, build, envelopes


async def project(tx: FakeTransactions[FakeCartRepositories], applied: list[Envelope]) -> None:
    for envelope in applied:
        await project_order_event(
            envelope.parse_event(),
            tx.unit(cause=envelope),
            return_window=DEFAULT_RETURN_WINDOW,
            warranty_policy=DEFAULT_WARRANTY_POLICY,
        )


async def test_each_applied_event_moves_the_position_and_notifies_once() -> None:
    tx = fake_transactions(SettableClock(T0 + timedelta(hours=1)), seeded=False)
    journey = OrderJourney("handler")
    applied = envelopes(journey.happy_path())
    await project(tx, applied)

    async with tx.begin(read_only=True) as uow:
        found = await order_status(journey.order_id, uow)
    assert found is not None
    assert found.view["state"] == "completed"
    assert found.position.version == len(applied)
    assert (found.position.last_event_id, found.position.last_event_type) == (
        applied[-1].event_id,
        "OrderCompleted",
    )
    assert found.position.applied_at == T0 + timedelta(hours=1)
    assert tx.repos.order_status.notified == [
        (journey.order_id, n) for n in range(1, len(applied) + 1)
    ]


async def test_a_cart_shows_its_order_or_else_why_its_checkout_was_rejected() -> None:
    tx = fake_transactions(seeded=False)
    journey = OrderJourney("cart")
    rejections = envelopes(
        [
            build(
                CheckoutRejected,
                cart_id="cart-refused",
                reasons=[{"code": code, "message": f"{code}!"}],
            )
            for code in ("empty_cart", "invalid_country")
        ]
    )
    # Read in the reverse order: the later rejection is still the one shown.
    for envelope in reversed(rejections):
        event = envelope.parse_event()
        assert isinstance(event, CheckoutRejected)
        await record_checkout_rejection(event, tx.unit(cause=envelope))
    await project(tx, envelopes([journey.placed()]))

    async with tx.begin(read_only=True) as uow:
        refused = await cart_order("cart-refused", uow)
        placed = await cart_order(journey.cart_id, uow)
        unknown = await cart_order("cart-never-seen", uow)
    assert isinstance(refused, CheckoutRejection)
    assert [reason["code"] for reason in refused.reasons] == ["invalid_country"]
    assert isinstance(placed, StoredStatus)
    assert placed.order_id == journey.order_id
    assert unknown is None


async def test_a_customers_orders_come_newest_first_a_page_at_a_time() -> None:
    tx = fake_transactions(seeded=False)
    customer = "customer-paging"
    journeys = [OrderJourney(f"page{n}") for n in range(5)]
    for n, journey in enumerate(journeys):
        placed = journey.placed(customer_id=customer)
        await project(tx, envelopes([placed], start=T0 + timedelta(days=n)))

    seen = []
    after = None
    async with tx.begin(read_only=True) as uow:
        while True:
            page = await customer_orders(customer, after, 2, uow)
            seen.append([stored.order_id for stored in page.orders])
            after = page.next_page
            if after is None:
                break
    newest_first = [journey.order_id for journey in reversed(journeys)]
    assert seen == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


async def test_a_first_event_that_lost_the_race_is_applied_over_the_winners_facts() -> None:
    # Another instance stored the order's first event between this one's read (nothing yet)
    # and its insert: the insert stores nothing, and the event is applied over what is there.
    tx = fake_transactions(seeded=False)
    journey = OrderJourney("race")
    placed, captured = envelopes([journey.placed(), journey.captured()])
    await project(tx, [placed])
    statuses = tx.repos.order_status
    reads = []
    real_read = statuses.facts_for_update

    async def stale_first_read(order_id: UUID) -> OrderFacts | None:
        reads.append(order_id)
        return None if len(reads) == 1 else await real_read(order_id)

    statuses.facts_for_update = stale_first_read  # type: ignore[method-assign]
    await project(tx, [captured])

    async with tx.begin(read_only=True) as uow:
        found = await order_status(journey.order_id, uow)
    assert found is not None
    assert (found.view["state"], found.position.version) == ("paid", 2)
    assert len(reads) == 2


def in_yen(event: PaymentAuthorized) -> PaymentAuthorized:
    return event.model_copy(update={"amount": Money.of("1000", "JPY")})


async def test_an_amount_in_another_currency_than_the_orders_is_refused_with_a_reason() -> None:
    # The view's sums raised CurrencyMismatch: the batch was applied again five times, then
    # the record dead-lettered as a bug (handler_failed) instead of with its reason.
    tx = fake_transactions(seeded=False)
    journey = OrderJourney("forged")
    await project(tx, envelopes([journey.placed()]))

    with pytest.raises(PermanentError) as refused:
        await project(tx, envelopes([in_yen(journey.authorized())]))

    assert refused.value.code == "currency_mismatch"
    assert "JPY" in refused.value.reason


async def test_an_amount_in_another_currency_read_before_its_order_is_left_out() -> None:
    # Not refusable yet (the order's currency is unknown), and it must not make the order's
    # own OrderPlaced, read next, fail to render.
    tx = fake_transactions(seeded=False)
    journey = OrderJourney("forged-early")
    await project(tx, envelopes([in_yen(journey.authorized()), journey.placed()]))

    async with tx.begin(read_only=True) as uow:
        found = await order_status(journey.order_id, uow)
    assert found is not None
    assert found.view["amounts"]["authorized"] == {
        "amount": format(Money.zero(journey.total.currency).amount, "f"),
        "currency": journey.total.currency.value,
    }
