"""Storefront cart events, applied in each cart's order: unit tests on in-memory repositories."""

from __future__ import annotations

from datetime import timedelta

import pytest
from orderflow_cart import metrics
from orderflow_cart.domain.cart import MAX_CART_PRODUCTS
from orderflow_cart.handlers import cart_events, queries
from orderflow_cart.handlers.cart_events import UnappliedReason
from orderflow_chassis.errors import TransientError
from orderflow_chassis.testing import FakeTransactions
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import (
    CartCheckedOut,
    CartItemRemoved,
    CheckoutRejected,
    OrderPlaced,
)

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


async def receive(tx: FakeTransactions[FakeCartRepositories], envelope: Envelope) -> None:
    await deliver(tx, envelope)


async def test_events_in_order_are_applied_and_saved() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    await receive(tx, shop.envelope(add("c-1", "MB-PEANUT", 2)))
    await receive(tx, shop.envelope(add("c-1", "MB-SPIKY-8CM")))
    cart = tx.repos.carts.carts["c-1"]
    assert cart.lines == {"MB-PEANUT": 2, "MB-SPIKY-8CM": 1}
    assert cart.last_sequence == 2
    assert tx.emitted.envelopes == []


async def test_an_early_event_waits_for_its_predecessor_then_both_apply_in_order() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    first = shop.envelope(add("c-2", "MB-PEANUT"))
    second = shop.envelope(CartItemRemoved(cart_id="c-2", sku="MB-PEANUT"))
    await receive(tx, second)
    assert tx.repos.carts.carts["c-2"].lines == {}
    assert list(tx.repos.carts.buffered) == [("c-2", 2)]
    await receive(tx, first)
    assert tx.repos.carts.buffered == {}
    cart = tx.repos.carts.carts["c-2"]
    assert cart.lines == {}, "added, then removed: the storefront's order, not arrival order"
    assert cart.last_sequence == 2


async def test_a_stale_and_a_duplicate_sequence_are_recorded_not_applied() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    await receive(tx, shop.envelope(add("c-3", "MB-PEANUT")))
    await receive(tx, shop.envelope(add("c-3", "MB-PEANUT", 3), sequence=1))  # stale
    await receive(tx, shop.envelope(add("c-3", "FR-WOOD-ROLLER"), sequence=5))  # early
    await receive(tx, shop.envelope(add("c-3", "MB-SPIKY-8CM"), sequence=5))  # duplicate
    async with tx.begin(read_only=True) as uow:
        report = await queries.cart_events("c-3", uow)
        assert await queries.cart_events("c-unknown", uow) is None
    assert report is not None
    reasons = [event.reason for event in report.unapplied]
    assert reasons == [UnappliedReason.STALE_SEQUENCE, UnappliedReason.DUPLICATE_SEQUENCE]
    assert report.skipped == []
    assert tx.repos.carts.carts["c-3"].lines == {"MB-PEANUT": 1}


async def test_a_checkout_its_number_keeps_out_is_still_answered() -> None:
    # A rejected checkout sent again under a new event id (its number already applied), and a
    # checkout numbered as one already waiting, were recorded and never answered: the
    # storefront waited for a CheckoutRejected or CartCheckedOut that never came.
    tx, shop = fake_transactions(clock()), Storefront()
    stale = metrics.REJECTION_REASONS.labels("stale_sequence")
    duplicate = metrics.REJECTION_REASONS.labels("duplicate_sequence")
    counted_before = (stale._value.get(), duplicate._value.get())
    await receive(tx, shop.envelope(checkout("c-5")))  # 1: an empty cart, rejected
    await receive(tx, shop.envelope(checkout("c-5"), sequence=1))  # sent again: stale
    await receive(tx, shop.envelope(add("c-5"), sequence=4))  # early
    await receive(tx, shop.envelope(checkout("c-5"), sequence=4))  # duplicate
    # Counted as every other reason a CheckoutRejected gives (they were not).
    assert (stale._value.get(), duplicate._value.get()) == (
        counted_before[0] + 1,
        counted_before[1] + 1,
    )

    answers = tx.emitted.of_type(CheckoutRejected)
    assert [[r.code for r in answer.reasons] for answer in answers] == [
        ["empty_cart"],
        ["stale_sequence"],
        ["duplicate_sequence"],
    ]
    assert "send the checkout again with the cart's next sequence number" in (
        answers[1].reasons[0].message
    )
    assert not tx.emitted.of_type(OrderPlaced)


async def test_a_gap_older_than_the_timeout_is_skipped_when_the_next_event_arrives() -> None:
    moment = clock()
    tx, shop = fake_transactions(moment), Storefront()
    await receive(tx, shop.envelope(add("c-4", "MB-PEANUT"), sequence=2))
    moment.advance(cart_rules(deps()).gap_timeout + timedelta(seconds=1))
    await receive(tx, shop.envelope(add("c-4", "FR-WOOD-ROLLER"), sequence=3))
    assert tx.repos.carts.carts["c-4"].lines == {"MB-PEANUT": 1, "FR-WOOD-ROLLER": 1}
    skipped = await tx.repos.carts.skipped("c-4")
    assert [(s.first_sequence, s.last_sequence) for s in skipped] == [(1, 1)]


async def test_after_checkout_edits_are_refused_and_a_checkout_repeats_only_the_receipt() -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    await receive(tx, shop.envelope(add("c-5", "FR-WOOD-ROLLER", 3)))
    await receive(tx, shop.envelope(checkout("c-5")))
    assert len(tx.emitted.of_type(OrderPlaced)) == 1
    await receive(tx, shop.envelope(add("c-5", "MB-PEANUT")))
    again = shop.envelope(checkout("c-5"))
    await receive(tx, again)

    assert len(tx.emitted.of_type(OrderPlaced)) == 1, "one cart, one order"
    receipts = tx.emitted.of_type(CartCheckedOut)
    assert len(receipts) == 2
    assert receipts[0].order_id == receipts[1].order_id
    assert tx.emitted.envelopes[-1].causation_id == str(again.event_id)
    reasons = [event.reason for event in await tx.repos.carts.unapplied("c-5")]
    assert reasons == [UnappliedReason.CART_CHECKED_OUT, UnappliedReason.ALREADY_CHECKED_OUT]
    assert tx.repos.carts.carts["c-5"].lines == {"FR-WOOD-ROLLER": 3}


async def test_a_cart_holds_at_most_a_thousand_products_and_says_which_was_not_added() -> None:
    # 8,700 unknown products once made a CheckoutRejected too large to publish: the
    # checkout was never answered. Quantities of products already in it still change.
    tx, shop = fake_transactions(clock()), Storefront()
    for n in range(MAX_CART_PRODUCTS):
        await receive(tx, shop.envelope(add("c-9", f"SKU-{n}")))
    await receive(tx, shop.envelope(add("c-9", "SKU-ONE-TOO-MANY")))
    await receive(tx, shop.envelope(add("c-9", "SKU-0", 2)))

    lines = tx.repos.carts.carts["c-9"].lines
    assert (len(lines), "SKU-ONE-TOO-MANY" in lines, lines["SKU-0"]) == (1000, False, 3)
    [refused] = await tx.repos.carts.unapplied("c-9")
    assert refused.reason == UnappliedReason.CART_FULL
    assert refused.detail == (
        "the cart holds 1000 different products, the most it may: SKU-ONE-TOO-MANY was not added"
    )


async def test_a_buffered_checkout_whose_application_fails_is_set_aside_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The buffered checkout's failure failed the handler of the edit that released it: that
    # valid edit was retried, then dead-lettered, and the cart stopped for good.
    tx, shop = fake_transactions(clock()), Storefront()
    first = shop.envelope(add("c-6", "FR-WOOD-ROLLER"))
    checkout_request = shop.envelope(checkout("c-6"))
    last = shop.envelope(add("c-6", "MB-PEANUT"))

    async def a_bug(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in the checkout")

    monkeypatch.setattr(cart_events, "check_out", a_bug)
    await receive(tx, checkout_request)
    await receive(tx, last)
    await receive(tx, first)

    cart = tx.repos.carts.carts["c-6"]
    assert cart.lines == {"FR-WOOD-ROLLER": 1, "MB-PEANUT": 1}
    assert (cart.last_sequence, cart.is_checked_out) == (3, False)
    assert tx.repos.carts.buffered == {}
    [set_aside] = await tx.repos.carts.unapplied("c-6")
    assert (set_aside.sequence, set_aside.reason) == (2, UnappliedReason.APPLY_FAILED)
    assert "RuntimeError: a bug in the checkout" in set_aside.detail
    [answer] = tx.emitted.of_type(CheckoutRejected)
    assert [reason.code for reason in answer.reasons] == ["checkout_failed"]
    [envelope] = [e for e in tx.emitted.envelopes if e.event_type == "CheckoutRejected"]
    assert envelope.causation_id == str(checkout_request.event_id)
    assert not tx.emitted.of_type(OrderPlaced)


async def test_a_buffered_event_failing_for_a_reason_that_passes_fails_its_releaser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tx, shop = fake_transactions(clock()), Storefront()
    first, second = shop.envelope(add("c-7", "FR-WOOD-ROLLER")), shop.envelope(checkout("c-7"))

    async def database_away(*_: object, **__: object) -> None:
        raise TransientError("the database is away")

    monkeypatch.setattr(cart_events, "check_out", database_away)
    await receive(tx, second)
    with pytest.raises(TransientError):
        await receive(tx, first)  # the batch is tried again, the buffered checkout with it
    assert await tx.repos.carts.unapplied("c-7") == []


async def test_an_early_event_is_buffered_with_the_fields_a_newer_producer_added() -> None:
    # Buffered as this version read it, an early event lost the fields a newer storefront
    # added: a newer cart instance applying it later (a rolling upgrade) never saw them.
    tx, shop = fake_transactions(clock()), Storefront()
    early = shop.envelope(add("c-8", "MB-PEANUT"), sequence=2)
    newer = early.model_copy(update={"data": {**early.data, "gift_wrap": "blue"}})

    await receive(tx, newer)

    [(buffered, _)] = tx.repos.carts.buffered.values()
    assert buffered.data["gift_wrap"] == "blue"
