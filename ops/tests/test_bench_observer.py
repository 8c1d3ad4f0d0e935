"""The benchmark observer's bookkeeping: which order reached which stage, and when."""

from __future__ import annotations

import json
import uuid
from typing import Any

from orderflow_ops.bench.observer import StageBook


def value(event_type: str, event_id: str | None = None, **data: Any) -> bytes:
    envelope = {"event_id": event_id or str(uuid.uuid4()), "event_type": event_type, "data": data}
    return json.dumps(envelope).encode()


def journey(book: StageBook, cart: str, order: str, start_ms: int) -> None:
    book.record("p.storefront.carts", start_ms, value("CheckoutRequested", cart_id=cart))
    book.record("p.orders", start_ms + 10, value("OrderPlaced", cart_id=cart, order_id=order))
    book.record("p.payments", start_ms + 30, value("PaymentCaptured", order_id=order))
    book.record(
        "p.fulfillment",
        start_ms + 50,
        value("FulfillmentRequested", order_id=order, replacement=False),
    )
    book.record("p.orders", start_ms + 90, value("OrderCompleted", order_id=order))


def test_each_stage_of_an_order_is_found_from_its_cart() -> None:
    book = StageBook()
    journey(book, "cart-1", "order-1", 1_000)

    assert book.checkout_ms == {"cart-1": 1_000}
    assert book.stages_of_cart("cart-1") == {
        "placed": 1_010,
        "captured": 1_030,
        "fulfillment_requested": 1_050,
        "completed": 1_090,
    }
    assert book.stages_of_cart("cart-unknown") == {}


def test_stages_may_arrive_before_the_order_is_known_to_belong_to_a_cart() -> None:
    book = StageBook()
    book.record("p.payments", 30, value("PaymentCaptured", order_id="order-1"))
    book.record("p.storefront.carts", 0, value("CheckoutRequested", cart_id="cart-1"))

    assert book.stages_of_cart("cart-1") == {}
    book.record("p.orders", 10, value("OrderPlaced", cart_id="cart-1", order_id="order-1"))

    assert book.stages_of_cart("cart-1") == {"placed": 10, "captured": 30}


def test_a_republished_event_counts_once_and_the_first_time_of_a_stage_stands() -> None:
    book = StageBook()
    journey(book, "cart-1", "order-1", 0)
    book.record("p.orders", 500, value("OrderCompleted", order_id="order-1"))  # another id
    duplicate = value("PaymentCaptured", "same-id", order_id="order-1")
    book.record("p.payments", 600, duplicate)
    book.record("p.payments", 700, duplicate)

    assert book.stages_of_cart("cart-1")["completed"] == 90
    assert book.stages_of_cart("cart-1")["captured"] == 30
    assert len(book.record_ms) == 7
    assert book.records_by_topic["p.payments"] == 2


def test_a_warranty_replacement_is_not_the_orders_fulfillment_request() -> None:
    book = StageBook()
    book.record(
        "p.fulfillment", 5, value("FulfillmentRequested", order_id="order-1", replacement=True)
    )

    assert book.stage_ms == {}


def test_failures_dead_letters_and_unreadable_records_are_counted_apart() -> None:
    book = StageBook()
    journey(book, "cart-ok", "order-ok", 0)
    book.record("p.storefront.carts", 0, value("CheckoutRequested", cart_id="cart-no"))
    book.record("p.carts", 5, value("CheckoutRejected", cart_id="cart-no"))
    book.record("p.storefront.carts", 0, value("CheckoutRequested", cart_id="cart-declined"))
    book.record("p.orders", 5, value("OrderPlaced", cart_id="cart-declined", order_id="o-2"))
    book.record("p.payments", 9, value("PaymentDeclined", order_id="o-2"))
    book.record("p.orders.dlq", 9, b"anything")
    book.record("p.orders", 9, b"not json")

    counts = book.counts(["cart-ok", "cart-no", "cart-declined", "cart-never-published"])

    assert counts.checkouts == 3
    assert counts.failed == 2
    assert counts.stages == {
        "placed": 2,
        "captured": 1,
        "fulfillment_requested": 1,
        "completed": 1,
    }
    assert book.failure_of_cart("cart-no") == "CheckoutRejected"
    assert book.failure_of_cart("cart-declined") == "PaymentDeclined"
    assert book.dead_letters == 1


def test_records_of_a_time_window() -> None:
    book = StageBook()
    journey(book, "cart-1", "order-1", 1_000)

    assert book.records_between(1_000, 1_050) == 4
    assert book.records_between(0, 999) == 0
