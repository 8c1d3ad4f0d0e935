"""The expiry job: authorisations not captured within the TTL are voided, each on its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import structlog.testing
from orderflow_chassis.clock import SettableClock
from orderflow_chassis.wiring import inject
from orderflow_contracts.events.payments import PaymentVoided
from orderflow_payment.domain.model import Payment, PaymentStatus
from orderflow_payment.domain.providers import (
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Void,
)
from orderflow_payment.handlers import expiry
from orderflow_payment.handlers.expiry import expire_authorisations

from services.payment.tests.fake_provider import ScriptedProvider, dependencies
from services.payment.tests.fakes import InMemoryPayments, fake_transactions, tables_of
from services.payment.tests.unit.handlers.steps import authorised_order, captured_order

HOUR = timedelta(hours=1)


async def test_an_expired_authorisation_is_voided_in_its_own_journey() -> None:
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), ScriptedProvider()
    wired = dependencies(provider, authorization_ttl_s=3600)
    expire = inject(expire_authorisations, wired)
    order = await authorised_order(transactions, wired, total="25.00")
    authorised = transactions.emitted.envelopes[0]

    clock.advance(HOUR - timedelta(seconds=1))
    assert await expire(transactions) == 0
    clock.advance(timedelta(seconds=1))
    assert await expire(transactions) == 1
    assert await expire(transactions) == 0

    (voided,) = transactions.emitted.of_type(PaymentVoided)
    envelope = transactions.emitted.envelopes[-1]
    assert (voided.reason, str(voided.amount)) == ("authorization_expired", "25.00 EUR")
    assert (envelope.correlation_id, envelope.causation_id) == (authorised.correlation_id, None)
    row = tables_of(transactions).payments[order.order_id]
    assert (row.payment.status, row.void_reason) == (PaymentStatus.VOIDED, "authorization_expired")
    assert [kind for kind, _, _ in tables_of(transactions).ledger_of(order.order_id)][2:] == [
        "void",
        "void",
    ]
    assert len(provider.keys("void")) == 1


async def test_a_captured_payment_never_expires() -> None:
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), ScriptedProvider()
    wired = dependencies(provider, authorization_ttl_s=3600)
    order = await captured_order(transactions, wired)
    clock.advance(2 * HOUR)

    assert await inject(expire_authorisations, wired)(transactions) == 0

    assert transactions.emitted.of_type(PaymentVoided) == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.CAPTURED


async def test_a_provider_failing_for_one_order_holds_back_only_that_one() -> None:
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), ScriptedProvider()
    wired = dependencies(provider, authorization_ttl_s=3600)
    stuck = await authorised_order(transactions, wired)
    clock.advance(timedelta(minutes=1))
    other = await authorised_order(transactions, wired)
    clock.advance(2 * HOUR)
    provider.answer("void", *[ProviderUnavailable("http_503")] * 3)  # the oldest goes first

    assert await inject(expire_authorisations, wired)(transactions) == 1

    tables = tables_of(transactions)
    assert tables.payment(stuck.order_id).status is PaymentStatus.AUTHORISED
    assert tables.payment(other.order_id).status is PaymentStatus.VOIDED
    assert [e.order_id for e in transactions.emitted.of_type(PaymentVoided)] == [other.order_id]

    assert await inject(expire_authorisations, wired)(transactions) == 1, "next round"
    assert tables_of(transactions).payment(stuck.order_id).status is PaymentStatus.VOIDED


async def test_a_round_voids_at_most_its_size_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expiry, "ROUND_SIZE", 1)
    clock = SettableClock()
    transactions = fake_transactions(clock)
    wired = dependencies(ScriptedProvider(), authorization_ttl_s=60)
    first = await authorised_order(transactions, wired)
    clock.advance(timedelta(seconds=1))
    second = await authorised_order(transactions, wired)
    clock.advance(HOUR)
    expire = inject(expire_authorisations, wired)

    assert await expire(transactions) == 1
    assert tables_of(transactions).payment(first.order_id).status is PaymentStatus.VOIDED
    assert tables_of(transactions).payment(second.order_id).status is PaymentStatus.AUTHORISED
    assert await expire(transactions) == 1
    assert tables_of(transactions).payment(second.order_id).status is PaymentStatus.VOIDED


@dataclass
class RefusingVoids(ScriptedProvider):
    """Refuses for good the voids of the orders in ``refusing``."""

    refusing: set[uuid.UUID] = field(default_factory=set)

    async def void(self, request: Void) -> ProviderResult:
        if request.order_id in self.refusing:
            raise ProviderRejected("authorisation_closed", "captured, never recorded")
        return await super().void(request)


async def test_orders_whose_void_keeps_failing_go_behind_the_newer_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Review (helper 118): the oldest expired authorisations, their void refused every round
    # (a capture done but never recorded, say), filled each round; no newer one was voided.
    monkeypatch.setattr(expiry, "ROUND_SIZE", 2)
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), RefusingVoids()
    wired = dependencies(provider, authorization_ttl_s=3600)
    refused = [await authorised_order(transactions, wired) for _ in range(2)]
    provider.refusing = {order.order_id for order in refused}
    clock.advance(timedelta(minutes=1))
    newer = await authorised_order(transactions, wired)
    clock.advance(2 * HOUR)
    expire = inject(expire_authorisations, wired)

    assert await expire(transactions) == 0, "the two oldest were tried, and deferred"
    assert await expire(transactions) == 1

    tables = tables_of(transactions)
    assert tables.payment(newer.order_id).status is PaymentStatus.VOIDED
    assert [tables.payment(o.order_id).status for o in refused] == [PaymentStatus.AUTHORISED] * 2


async def test_an_order_captured_after_it_was_listed_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), ScriptedProvider()
    wired = dependencies(provider, authorization_ttl_s=3600)
    order = await captured_order(transactions, wired)
    clock.advance(2 * HOUR)

    async def listed_before_the_capture(now: datetime, *, limit: int) -> list[uuid.UUID]:
        return [order.order_id]

    payments = transactions.repos.payments
    monkeypatch.setattr(payments, "expired_authorisations", listed_before_the_capture)

    assert await inject(expire_authorisations, wired)(transactions) == 0

    assert provider.keys("void") == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.CAPTURED


def reading_fails_for(
    monkeypatch: pytest.MonkeyPatch, order_id: uuid.UUID, error: Exception
) -> None:
    """Reading ``order_id``'s payment raises ``error`` (on the class: a rolled-back fake
    transaction restores a copy of the repositories)."""
    get = InMemoryPayments.get

    async def failing(self: InMemoryPayments, wanted: uuid.UUID) -> Payment | None:
        if wanted == order_id:
            raise error
        return await get(self, wanted)

    monkeypatch.setattr(InMemoryPayments, "get", failing)


async def test_an_order_the_code_fails_on_is_skipped_untouched_and_the_others_voided(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), ScriptedProvider()
    wired = dependencies(provider, authorization_ttl_s=3600)
    poisoned = await authorised_order(transactions, wired)  # the oldest goes first
    clock.advance(timedelta(minutes=1))
    other = await authorised_order(transactions, wired)
    clock.advance(2 * HOUR)
    reading_fails_for(monkeypatch, poisoned.order_id, KeyError("a row the code cannot read"))

    with structlog.testing.capture_logs() as logs:
        assert await inject(expire_authorisations, wired)(transactions) == 1

    tables = tables_of(transactions)
    assert tables.payment(other.order_id).status is PaymentStatus.VOIDED
    assert tables.payment(poisoned.order_id).status is PaymentStatus.AUTHORISED
    assert [kind for kind, _, _ in tables.ledger_of(poisoned.order_id)][2:] == []
    assert len(provider.keys("void")) == 1, "no void asked for the skipped order"
    [skipped] = [e for e in logs if e["event"] == "periodic_job.item_skipped"]
    assert (skipped["item"], skipped["log_level"]) == (str(poisoned.order_id), "error")


async def test_a_database_failure_ends_the_round(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SettableClock()
    transactions, provider = fake_transactions(clock), ScriptedProvider()
    wired = dependencies(provider, authorization_ttl_s=3600)
    first = await authorised_order(transactions, wired)
    clock.advance(timedelta(minutes=1))
    await authorised_order(transactions, wired)
    clock.advance(2 * HOUR)
    reading_fails_for(monkeypatch, first.order_id, ConnectionError("the database restarts"))

    with pytest.raises(ConnectionError):
        await inject(expire_authorisations, wired)(transactions)

    assert transactions.emitted.of_type(PaymentVoided) == []
    assert provider.keys("void") == []
