"""The cart aggregate, and applying events in sequence order whatever the arrival order."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from orderflow_cart.domain.cart import Cart, CartClosed, CartEdit, CartStatus
from orderflow_cart.domain.sequencing import (
    Admission,
    Waiting,
    admit,
    ready_after,
    release_overdue,
)
from orderflow_contracts.events import (
    CartCurrencySelected,
    CartItemAdded,
    CartItemQuantityChanged,
    CartItemRemoved,
)

T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def test_adds_accumulate_quantity_changes_are_absolute_and_removal_drops_the_line() -> None:
    cart = Cart("cart-1")
    cart.apply(CartItemAdded(cart_id="cart-1", sku="MB-PEANUT", quantity=2))
    cart.apply(CartItemAdded(cart_id="cart-1", sku="NS-ADJ-M", quantity=1))
    cart.apply(CartItemAdded(cart_id="cart-1", sku="MB-PEANUT", quantity=3))
    assert cart.lines == {"MB-PEANUT": 5, "NS-ADJ-M": 1}
    cart.apply(CartItemQuantityChanged(cart_id="cart-1", sku="MB-PEANUT", quantity=1))
    cart.apply(CartItemQuantityChanged(cart_id="cart-1", sku="TS-GEL-2PK", quantity=4))
    cart.apply(CartItemRemoved(cart_id="cart-1", sku="NS-ADJ-M"))
    cart.apply(CartItemRemoved(cart_id="cart-1", sku="NOT-THERE"))
    cart.apply(CartCurrencySelected(cart_id="cart-1", currency="JPY"))
    assert list(cart.lines.items()) == [("MB-PEANUT", 1), ("TS-GEL-2PK", 4)]
    assert cart.currency == "JPY"


def test_a_line_is_capped_at_the_contract_maximum() -> None:
    cart = Cart("cart-1")
    for _ in range(3):
        cart.apply(CartItemAdded(cart_id="cart-1", sku="MB-PEANUT", quantity=4000))
    assert cart.lines == {"MB-PEANUT": 10_000}


def test_a_checked_out_cart_takes_no_edits() -> None:
    cart = Cart("cart-1", lines={"MB-PEANUT": 1})
    cart.check_out(uuid4(), "cust-1")
    with pytest.raises(CartClosed):
        cart.apply(CartItemAdded(cart_id="cart-1", sku="MB-PEANUT", quantity=1))
    assert cart.lines == {"MB-PEANUT": 1}


def test_activity_reopens_an_abandoned_cart() -> None:
    cart = Cart("cart-1")
    cart.abandon()
    assert cart.status is CartStatus.ABANDONED
    cart.touch(T0, event_id="e", correlation_id="c")
    assert (cart.status, cart.last_activity_at) == (CartStatus.OPEN, T0)


@pytest.mark.parametrize(
    ("last", "buffered", "sequence", "expected"),
    [
        (0, set(), 1, Admission.APPLY),
        (4, set(), 5, Admission.APPLY),
        (4, set(), None, Admission.APPLY),
        (4, set(), 7, Admission.BUFFER),
        (4, {7}, 7, Admission.DUPLICATE),
        (4, set(), 4, Admission.STALE),
        (4, set(), 1, Admission.STALE),
    ],
)
def test_admission(
    last: int, buffered: set[int], sequence: int | None, expected: Admission
) -> None:
    assert admit(last, buffered, sequence) is expected


def test_ready_after_takes_the_run_without_a_gap() -> None:
    assert ready_after(2, {3, 4, 6}) == [3, 4]
    assert ready_after(2, {4, 5}) == []


def test_a_gap_is_skipped_only_after_the_timeout_counted_from_the_first_event_behind_it() -> None:
    timeout = timedelta(seconds=30)
    waiting = [Waiting(5, T0), Waiting(6, T0 + timedelta(seconds=10)), Waiting(9, T0)]
    early = release_overdue(2, waiting, T0 + timedelta(seconds=29), timeout)
    assert (early.skipped, early.to_apply) == ([], [])
    # At 30 s both gaps (3-4 and 7-8) have waited long enough: event 9 arrived at T0.
    due = release_overdue(2, waiting, T0 + timedelta(seconds=30), timeout)
    assert (due.skipped, due.to_apply) == ([(3, 4), (7, 8)], [5, 6, 9])


def test_the_second_gap_waits_for_its_own_timeout() -> None:
    timeout = timedelta(seconds=30)
    waiting = [Waiting(5, T0), Waiting(9, T0 + timedelta(seconds=20))]
    due = release_overdue(2, waiting, T0 + timedelta(seconds=30), timeout)
    assert (due.skipped, due.to_apply) == ([(3, 4)], [5])


def _apply_in_arrival_order(events: list[tuple[int, CartEdit]]) -> Cart:
    """What the handler does, with an in-memory buffer (no timeout)."""
    cart = Cart("cart-1")
    buffer: dict[int, CartEdit] = {}
    for sequence, edit in events:
        admission = admit(cart.last_sequence, buffer.keys(), sequence)
        if admission is Admission.APPLY:
            cart.apply(edit)
            cart.last_sequence = sequence
        elif admission is Admission.BUFFER:
            buffer[sequence] = edit
        for ready in ready_after(cart.last_sequence, buffer.keys()):
            cart.apply(buffer.pop(ready))
            cart.last_sequence = ready
    return cart


def test_any_arrival_order_with_duplicates_gives_the_cart_of_the_sequence_order() -> None:
    edits: list[CartEdit] = [
        CartItemAdded(cart_id="cart-1", sku="MB-PEANUT", quantity=2),
        CartCurrencySelected(cart_id="cart-1", currency="EUR"),
        CartItemAdded(cart_id="cart-1", sku="NS-ADJ-M", quantity=1),
        CartItemQuantityChanged(cart_id="cart-1", sku="MB-PEANUT", quantity=5),
        CartItemRemoved(cart_id="cart-1", sku="NS-ADJ-M"),
        CartItemAdded(cart_id="cart-1", sku="NS-ADJ-M", quantity=2),
    ]
    numbered = list(enumerate(edits, start=1))
    in_order = _apply_in_arrival_order(numbered)
    assert (in_order.lines, in_order.currency) == ({"MB-PEANUT": 5, "NS-ADJ-M": 2}, "EUR")
    rng = random.Random(7)
    orders = list(itertools.permutations(numbered))
    for arrival in [*orders[:: max(1, len(orders) // 200)], *[rng.sample(numbered, 6)]]:
        with_duplicates = list(arrival) + [rng.choice(numbered) for _ in range(3)]
        rng.shuffle(with_duplicates)
        cart = _apply_in_arrival_order(with_duplicates)
        assert (list(cart.lines.items()), cart.currency, cart.last_sequence) == (
            list(in_order.lines.items()),
            "EUR",
            6,
        )
