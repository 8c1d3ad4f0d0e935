"""The cart's jobs (gaps, abandonment) on in-memory repositories and a settable clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from orderflow_cart.domain.cart import CartStatus
from orderflow_cart.handlers.sweeps import release_overdue_gaps, report_abandoned_carts
from orderflow_contracts.events import CartAbandoned

from services.cart.tests.fakes import fake_transactions
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
