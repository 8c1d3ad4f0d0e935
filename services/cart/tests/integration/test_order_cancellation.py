"""The cart announces a failed order exactly once: OrderCancelled with the first reason."""

from __future__ import annotations

import uuid

import pytest
from orderflow_cart.domain.checkout import order_id_for
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    PaymentDeclined,
    PaymentVoided,
    ReservationReleased,
    ShortLine,
    StockUnavailable,
)
from orderflow_contracts.money import Money

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.storefront import (
    add,
    checkout,
    new_cart_id,
    wait_for_envelopes,
)
from tests.support.kafka_tools import eventually
from tests.support.service_harness import caught_up, publish_envelopes

pytestmark = pytest.mark.integration


async def place_order(service: RunningCart, cart_id: str | None = None) -> uuid.UUID:
    """Check a cart out and wait for its OrderPlaced: payment declines only a placed order (a
    decline read before the order's commit cancels nothing)."""
    cart_id = cart_id or new_cart_id("cancel")
    await service.storefront.send(add(cart_id, "MB-SPIKY-8CM", 2), checkout(cart_id))
    order_id = order_id_for(cart_id)
    await wait_for_envelopes(
        service.infrastructure, service.prefix, topics.ORDERS, str(order_id), count=1
    )
    return order_id


async def publish(service: RunningCart, *events: object) -> None:
    await publish_envelopes(
        service.infrastructure,
        service.prefix,
        [Envelope.wrap(e, producer="upstream", correlation_id="j") for e in events],  # type: ignore[arg-type]
    )


def declined(order_id: uuid.UUID) -> PaymentDeclined:
    return PaymentDeclined(
        order_id=order_id,
        payment_id=uuid.uuid4(),
        amount=Money.of("19.90", "USD"),
        reason_code="insufficient_funds",
        message="Insufficient funds.",
        provider="sandbox",
    )


async def cancellations(service: RunningCart, order_id: uuid.UUID) -> list[Envelope]:
    found = await wait_for_envelopes(
        service.infrastructure, service.prefix, topics.ORDERS, str(order_id), count=1
    )
    return [e for e in found if e.event_type == "OrderCancelled"]


async def test_a_declined_payment_cancels_the_order_once(cart_service: RunningCart) -> None:
    order_id = await place_order(cart_service)
    first = declined(order_id)
    await publish(cart_service, first, first, declined(order_id))
    # A later, different failure of the same order changes nothing either.
    await publish(
        cart_service,
        StockUnavailable(
            order_id=order_id, short_lines=[ShortLine(sku="MB-SPIKY-8CM", requested=2, available=0)]
        ),
    )

    await eventually(lambda: cancellations(cart_service, order_id), bool)
    await caught_up(cart_service.runtime)
    found = await cancellations(cart_service, order_id)

    assert len(found) == 1
    assert found[0].data["reason"] == "payment_declined"
    assert found[0].causation_id is not None


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("stock", "stock_unavailable"),
        ("authorisation_expired", "authorization_expired"),
        ("reservation_expired", "reservation_expired"),
    ],
)
async def test_each_saga_failure_cancels_with_its_reason(
    cart_service: RunningCart, failure: str, reason: str
) -> None:
    order_id = await place_order(cart_service)
    event = {
        "stock": StockUnavailable(
            order_id=order_id, short_lines=[ShortLine(sku="MB-SPIKY-8CM", requested=2, available=1)]
        ),
        "authorisation_expired": PaymentVoided(
            order_id=order_id,
            payment_id=uuid.uuid4(),
            amount=Money.of("19.90", "USD"),
            reason="authorization_expired",
            provider="sandbox",
        ),
        "reservation_expired": ReservationReleased(
            order_id=order_id, reason="expired", allocations=[]
        ),
    }[failure]
    await publish(cart_service, event)

    found = await eventually(lambda: cancellations(cart_service, order_id), bool)

    assert [e.data["reason"] for e in found] == [reason]


async def test_a_void_that_follows_a_cancellation_does_not_cancel_again(
    cart_service: RunningCart,
) -> None:
    order_id = await place_order(cart_service)
    await publish(
        cart_service,
        PaymentVoided(
            order_id=order_id,
            payment_id=uuid.uuid4(),
            amount=Money.of("19.90", "USD"),
            reason="stock_unavailable",
            provider="sandbox",
        ),
        declined(order_id),
    )
    found = await eventually(lambda: cancellations(cart_service, order_id), bool)
    assert [e.data["reason"] for e in found] == ["payment_declined"]


async def test_a_checkout_after_the_order_was_cancelled_is_rejected(
    cart_service: RunningCart,
) -> None:
    cart_id = new_cart_id("retry")
    order_id = await place_order(cart_service, cart_id)  # not waiting for it failed in CI
    await publish(cart_service, declined(order_id))
    assert await eventually(lambda: cancellations(cart_service, order_id), bool)

    await cart_service.storefront.send(checkout(cart_id, token="tok_mastercard_approve"))

    answers = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.CARTS,
        cart_id,
        count=2,
        event_types=["CartCheckedOut", "CheckoutRejected"],
    )
    assert [a.event_type for a in answers] == ["CartCheckedOut", "CheckoutRejected"]
    [reason] = answers[1].data["reasons"]
    assert reason["code"] == "order_cancelled"
