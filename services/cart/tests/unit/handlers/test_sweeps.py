"""The cart's jobs (gaps, abandonment) on in-memory repositories and a settable clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import structlog.testing
from orderflow_cart.domain.cart import Cart, CartStatus
from orderflow_cart.domain.sequencing import Waiting
from orderflow_cart.handlers.sweeps import release_overdue_gaps, report_abandoned_carts
from orderflow_contracts.events import CartAbandoned

from services.cart.tests.fakes import FakeCarts, fake_transactions
from services.cart.tests.unit.handlers.cart_journeys import (
    Storefront,
    add,
    cart_rules,
    clock,
    deliver,
    deps,
)

ABANDON_AFTER = timedelta(hours=2)


async def test_an_overdue_gap_is_released_by_the_sweep_without_a_new_event() -> None:
    moment = clock()
    tx, shop = fake_transactions(moment), Storefront()
    rules = cart_rules(deps())
    early = shop.envelope(add("c-30", "MB-PEANUT"), sequence=3)
    await deliver(tx, early, rules)
    assert await release_overdue_gaps(tx, cart_rules=rules) == 0, "not overdue yet"

    moment.advance(rules.gap_timeout)
    assert await release_overdue_gaps(tx, cart_rules=rules) == 1
    assert tx.repos.carts.carts["c-30"].lines == {"MB-PEANUT": 1}
    assert tx.repos.carts.buffered == {}
    skipped = await tx.repos.carts.skipped("c-30")
    assert [(s.first_sequence, s.last_sequence) for s in skipped] == [(1, 2)]


async def test_an_idle_cart_is_reported_abandoned_once_with_its_priced_subtotal() -> None:
    moment = clock()
    tx, shop = fake_transactions(moment), Storefront()
    rules = cart_rules(deps())
    edit = shop.envelope(add("c-31", "MB-PEANUT", 2))
    await deliver(tx, edit, rules)

    moment.advance(ABANDON_AFTER - timedelta(seconds=1))
    assert await report_abandoned_carts(tx, abandon_after=ABANDON_AFTER, cart_rules=rules) == 0
    moment.advance(timedelta(seconds=1))
    assert await report_abandoned_carts(tx, abandon_after=ABANDON_AFTER, cart_rules=rules) == 1
    assert await report_abandoned_carts(tx, abandon_after=ABANDON_AFTER, cart_rules=rules) == 0

    (abandoned,) = tx.emitted.of_type(CartAbandoned)
    assert abandoned.subtotal is not None
    assert abandoned.subtotal.amount == Decimal("25.90")
    assert [(line.sku, line.quantity) for line in abandoned.lines] == [("MB-PEANUT", 2)]
    envelope = tx.emitted.envelopes[0]
    assert envelope.correlation_id == edit.correlation_id
    assert envelope.causation_id == str(edit.event_id)
    assert tx.repos.carts.carts["c-31"].status is CartStatus.ABANDONED


async def test_a_cart_with_an_unsold_line_is_reported_without_a_subtotal() -> None:
    moment = clock()
    tx, shop = fake_transactions(moment), Storefront()
    rules = cart_rules(deps())
    edit = shop.envelope(add("c-32", "WITHDRAWN-SKU"))
    await deliver(tx, edit, rules)
    moment.advance(ABANDON_AFTER)
    await report_abandoned_carts(tx, abandon_after=ABANDON_AFTER, cart_rules=rules)
    (abandoned,) = tx.emitted.of_type(CartAbandoned)
    assert abandoned.subtotal is None


def skipped_items(logs: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [entry["item"] for entry in logs if entry["event"] == "periodic_job.item_skipped"]


async def test_a_cart_whose_gap_release_keeps_failing_holds_back_no_other_cart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = clock()
    tx, shop = fake_transactions(moment), Storefront()
    rules = cart_rules(deps())
    await deliver(tx, shop.envelope(add("c-40", "MB-PEANUT"), sequence=3), rules)  # oldest gap
    moment.advance(timedelta(seconds=1))
    await deliver(tx, shop.envelope(add("c-41", "MB-PEANUT"), sequence=3), rules)
    waiting = FakeCarts.waiting

    async def unreadable_c40(self: FakeCarts, cart_id: str) -> list[Waiting]:
        if cart_id == "c-40":
            raise ValueError("a buffered event the code cannot read")
        return await waiting(self, cart_id)

    monkeypatch.setattr(FakeCarts, "waiting", unreadable_c40)
    moment.advance(rules.gap_timeout)

    with structlog.testing.capture_logs() as logs:
        assert await release_overdue_gaps(tx, cart_rules=rules) == 1

    assert skipped_items(logs) == ["c-40"]
    assert tx.repos.carts.carts["c-41"].lines == {"MB-PEANUT": 1}
    assert tx.repos.carts.carts["c-40"].lines == {}, "left as it was"
    assert [cart_id for cart_id, _ in tx.repos.carts.buffered] == ["c-40"]


async def test_a_cart_that_cannot_be_reported_abandoned_holds_back_no_other_cart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = clock()
    tx, shop = fake_transactions(moment), Storefront()
    rules = cart_rules(deps())
    await deliver(tx, shop.envelope(add("c-42", "MB-PEANUT")), rules)  # idle the longest
    moment.advance(timedelta(seconds=1))
    await deliver(tx, shop.envelope(add("c-43", "MB-PEANUT")), rules)
    get = FakeCarts.get

    async def unreadable_c42(self: FakeCarts, cart_id: str) -> Cart | None:
        if cart_id == "c-42":
            raise ValueError("a cart the code cannot read")
        return await get(self, cart_id)

    monkeypatch.setattr(FakeCarts, "get", unreadable_c42)
    moment.advance(ABANDON_AFTER)

    with structlog.testing.capture_logs() as logs:
        assert await report_abandoned_carts(tx, abandon_after=ABANDON_AFTER, cart_rules=rules) == 1

    assert skipped_items(logs) == ["c-42"]
    assert [e.cart_id for e in tx.emitted.of_type(CartAbandoned)] == ["c-43"]
    assert tx.repos.carts.carts["c-42"].status is CartStatus.OPEN
