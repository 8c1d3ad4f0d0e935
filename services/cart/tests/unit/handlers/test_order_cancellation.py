"""Saga failures become one OrderCancelled per order: unit tests on in-memory repositories."""

from __future__ import annotations

import random
import uuid

from orderflow_cart.handlers.cart_events import UnappliedReason, receive_cart_event
from orderflow_cart.handlers.order_cancellation import cancel_failed_order, cancellation_for
from orderflow_chassis.testing import FakeTransactions, envelope_of
from orderflow_contracts.card_data import contains_card_number
from orderflow_contracts.events import (
    CartCheckedOut,
    CheckoutRejected,
    CheckoutRejectionCode,
    OrderCancelled,
    OrderPlaced,
    PaymentDeclined,
    PaymentVoided,
    StockUnavailable,
)
from orderflow_contracts.events.common import ShortLine
from orderflow_contracts.events.orders import OrderCancellationReason
from orderflow_contracts.events.payments import PaymentDeclineCode, PaymentVoidReason

from services.cart.tests.fakes import FakeCartRepositories, fake_transactions
from services.cart.tests.unit.handlers.cart_journeys import (
    Storefront,
    add,
    cart_rules,
    checkout,
    clock,
    deliver,
    deps,
)


async def placed_order(tx: FakeTransactions[FakeCartRepositories]) -> OrderPlaced:
    shop = Storefront()
    for event in (add("c-20", "FR-WOOD-ROLLER", 3), checkout("c-20")):
        envelope = shop.envelope(event)
        await receive_cart_event(event, tx.unit(cause=envelope), cart_rules=cart_rules(deps()))
    return tx.emitted.of_type(OrderPlaced)[0]


def declined(order: OrderPlaced) -> PaymentDeclined:
    return PaymentDeclined(
        order_id=order.order_id,
        payment_id=uuid.uuid4(),
        amount=order.total,
        reason_code=PaymentDeclineCode.INSUFFICIENT_FUNDS.value,
        message="insufficient funds",
        provider="sandbox",
    )


async def test_the_first_failure_cancels_the_order_once_with_its_reason() -> None:
    tx = fake_transactions(clock())
    order = await placed_order(tx)
    first_failure, second_failure = declined(order), declined(order)
    first = envelope_of(first_failure)
    await cancel_failed_order(first_failure, tx.unit(cause=first))
    await cancel_failed_order(second_failure, tx.unit(cause=envelope_of(second_failure)))

    (cancelled,) = tx.emitted.of_type(OrderCancelled)
    assert cancelled.order_id == order.order_id
    assert cancelled.reason == OrderCancellationReason.PAYMENT_DECLINED
    assert tx.emitted.envelopes[-1].causation_id == str(first.event_id)
    assert tx.repos.orders.cancelled[order.order_id] == (
        OrderCancellationReason.PAYMENT_DECLINED.value,
        first.occurred_at,
    )


async def test_a_void_that_follows_a_cancellation_cancels_nothing() -> None:
    tx = fake_transactions(clock())
    order = await placed_order(tx)
    void = PaymentVoided(
        order_id=order.order_id,
        payment_id=uuid.uuid4(),
        amount=order.total,
        reason=PaymentVoidReason.ORDER_CANCELLED.value,
        provider="sandbox",
    )
    envelope = envelope_of(void)
    await cancel_failed_order(void, tx.unit(cause=envelope))
    assert tx.emitted.of_type(OrderCancelled) == []
    assert tx.repos.orders.cancelled == {}


async def test_a_failure_of_an_order_the_cart_never_placed_changes_nothing() -> None:
    tx = fake_transactions(clock())
    unknown = StockUnavailable.model_validate(
        {
            "order_id": str(uuid.uuid4()),
            "short_lines": [{"sku": "MB-PEANUT", "requested": 2, "available": 0}],
        }
    )
    await cancel_failed_order(unknown, tx.unit(cause=envelope_of(unknown)))
    assert tx.emitted.envelopes == []


async def test_a_long_failure_still_cancels_the_order_with_its_message_cut_to_fit() -> None:
    # "payment declined: " before a decline message of 500 characters, or twenty-odd SKUs out
    # of stock, made an OrderCancelled the contract refuses: the order was never cancelled.
    tx = fake_transactions(clock())
    order = await placed_order(tx)
    long_decline = declined(order).model_copy(update={"message": "x" * 500})
    short = [ShortLine(sku=f"SKU-{n:028d}", requested=1, available=0) for n in range(20)]
    out_of_stock = StockUnavailable(order_id=order.order_id, short_lines=short)

    for failure in (long_decline, out_of_stock):
        cancelled = cancellation_for(failure)
        assert cancelled is not None
        OrderCancelled(order_id=order.order_id, reason=cancelled[0], message=cancelled[1])
        assert len(cancelled[1]) == 500
        assert cancelled[1].endswith("...")
    await cancel_failed_order(long_decline, tx.unit(cause=envelope_of(long_decline)))
    (cancelled_order,) = tx.emitted.of_type(OrderCancelled)
    assert (cancelled_order.message or "").startswith("payment declined: xxx")


def test_an_out_of_stock_reason_listing_all_digit_skus_never_reads_as_a_card_number() -> None:
    # Review (helper 120): "out of stock: 2698-0134, 1105-6167" read as a card number's groups
    # one time in thirty, and every consumer refused the cart's own OrderCancelled.
    rng = random.Random(120)
    for _ in range(3_000):
        skus = [f"{rng.randrange(2000, 7000)}-{rng.randrange(10**4):04d}" for _ in range(2)]
        skus += [f"{rng.randrange(2000, 7000)}" for _ in range(2)]
        short = [ShortLine(sku=sku, requested=1, available=0) for sku in skus]
        cancelled = cancellation_for(StockUnavailable(order_id=uuid.uuid4(), short_lines=short))
        assert cancelled is not None
        assert not contains_card_number(cancelled[1]), cancelled[1]


async def test_a_checkout_of_a_cart_whose_order_was_cancelled_is_rejected_not_announced() -> None:
    # A customer whose card was declined tries another card on the same cart. Announcing
    # CartCheckedOut again told the storefront the cancelled order was placed.
    tx = fake_transactions(clock())
    order = await placed_order(tx)
    failure = declined(order)
    await cancel_failed_order(failure, tx.unit(cause=envelope_of(failure)))
    again = Storefront().envelope(checkout("c-20", token="tok_mastercard_approve"), sequence=3)
    await deliver(tx, again)

    assert len(tx.emitted.of_type(OrderPlaced)) == 1
    assert len(tx.emitted.of_type(CartCheckedOut)) == 1, "only the first checkout's"
    (rejected,) = tx.emitted.of_type(CheckoutRejected)
    [reason] = rejected.reasons
    assert reason.code == CheckoutRejectionCode.ORDER_CANCELLED
    assert f"order {order.order_id}, which was cancelled (payment_declined)" in reason.message
    assert tx.emitted.envelopes[-1].causation_id == str(again.event_id)
    [unapplied] = await tx.repos.carts.unapplied("c-20")
    assert unapplied.reason == UnappliedReason.ORDER_CANCELLED
