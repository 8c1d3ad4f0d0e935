"""Stock facts: reserved → capture (once, in either order); unavailable or released → void."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events import Event
from orderflow_contracts.events.payments import PaymentCaptured, PaymentVoided
from orderflow_payment.domain.model import PaymentStatus, StockStatus
from orderflow_payment.domain.providers import ProviderRejected, ProviderResult, ProviderUnavailable
from orderflow_payment.handlers.stock import (
    record_reservation_released,
    record_stock_reserved,
    record_stock_unavailable,
)

from services.payment.tests.builders import (
    order_placed,
    reservation_released,
    stock_reserved,
    stock_unavailable,
)
from services.payment.tests.fake_provider import ScriptedProvider, dependencies
from services.payment.tests.fakes import fake_transactions, tables_of
from services.payment.tests.unit.handlers.steps import (
    apply_event,
    authorised_order,
    captured_order,
    lost_before_commit,
)


async def test_stock_reserved_captures_an_authorised_payment() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired, total="55.44")

    cause = await apply_event(
        record_stock_reserved, stock_reserved(order.order_id), transactions, wired
    )

    (captured,) = transactions.emitted.of_type(PaymentCaptured)
    payment = tables_of(transactions).payment(order.order_id)
    assert (captured.order_id, captured.payment_id, str(captured.amount)) == (
        order.order_id,
        payment.payment_id,
        "55.44 EUR",
    )
    assert captured.provider_reference == f"scripted-capture-capture:{payment.payment_id}"
    assert transactions.emitted.envelopes[-1].causation_id == str(cause.event_id)
    assert (payment.status, payment.captured) == (PaymentStatus.CAPTURED, payment.amount)
    assert payment.capture_reference == captured.provider_reference
    assert tables_of(transactions).order_facts[order.order_id].stock_status is StockStatus.RESERVED
    assert tables_of(transactions).ledger_of(order.order_id)[2:] == [
        ("capture", "customer_authorisations", 5544),
        ("capture", "authorisation_holds", -5544),
        ("capture", "provider_receivable", 5544),
        ("capture", "sales", -5544),
    ]


async def test_stock_reserved_before_the_order_is_only_remembered() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    order = order_placed()

    await apply_event(
        record_stock_reserved, stock_reserved(order.order_id), transactions, dependencies(provider)
    )

    assert transactions.emitted.envelopes == []
    assert provider.calls == []
    assert tables_of(transactions).order_facts[order.order_id].stock_status is StockStatus.RESERVED


async def test_stock_reserved_twice_captures_once() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired)

    await apply_event(record_stock_reserved, stock_reserved(order.order_id), transactions, wired)

    assert len(transactions.emitted.of_type(PaymentCaptured)) == 1
    assert len(provider.keys("capture")) == 1
    captures = [r for r in tables_of(transactions).ledger_of(order.order_id) if r[0] == "capture"]
    assert len(captures) == 4


async def test_a_late_stock_reserved_never_revives_a_released_reservation() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = order_placed()
    await apply_event(
        record_reservation_released, reservation_released(order.order_id), transactions, wired
    )

    await apply_event(record_stock_reserved, stock_reserved(order.order_id), transactions, wired)

    assert tables_of(transactions).order_facts[order.order_id].stock_status is StockStatus.RELEASED
    assert provider.calls == []


@pytest.mark.parametrize(
    ("handler", "fact", "reason"),
    [
        (record_stock_unavailable, stock_unavailable, "stock_unavailable"),
        (record_reservation_released, reservation_released, "reservation_released"),
    ],
)
async def test_stock_gone_voids_the_authorisation(
    handler: Callable[..., Awaitable[None]], fact: Callable[[uuid.UUID], Event], reason: str
) -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired, total="30.00")

    await apply_event(handler, fact(order.order_id), transactions, wired)

    (voided,) = transactions.emitted.of_type(PaymentVoided)
    payment_id = tables_of(transactions).payment(order.order_id).payment_id
    assert (voided.reason, str(voided.amount), voided.payment_id) == (
        reason,
        "30.00 EUR",
        payment_id,
    )
    row = tables_of(transactions).payments[order.order_id]
    assert (row.payment.status, row.void_reason) == (PaymentStatus.VOIDED, reason)
    assert row.void_reference == f"scripted-void-void:{payment_id}"
    assert tables_of(transactions).ledger_of(order.order_id)[2:] == [
        ("void", "customer_authorisations", 3000),
        ("void", "authorisation_holds", -3000),
    ]


async def test_a_released_reservation_after_capture_voids_nothing() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired)
    emitted = len(transactions.emitted.envelopes)

    await apply_event(
        record_reservation_released, reservation_released(order.order_id), transactions, wired
    )

    assert len(transactions.emitted.envelopes) == emitted
    assert provider.keys("void") == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.CAPTURED


async def test_a_capture_the_provider_cannot_take_now_is_retried_by_the_consumer() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("capture", *[ProviderUnavailable("http_503")] * 3)
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)

    with pytest.raises(TransientError):
        await apply_event(
            record_stock_reserved, stock_reserved(order.order_id), transactions, wired
        )

    assert len(provider.keys("capture")) == 3
    assert transactions.emitted.of_type(PaymentCaptured) == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.AUTHORISED
    assert order.order_id not in tables_of(transactions).order_facts, "rolled back"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (ProviderResult.decline("do_not_honour", "no"), "capture_declined"),
        (ProviderRejected("authorisation_closed", "already voided"), "capture_rejected"),
    ],
)
async def test_a_capture_the_provider_will_never_take_is_dead_lettered(
    answer: ProviderResult | Exception, code: str
) -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("capture", answer)
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)

    with pytest.raises(PermanentError) as refused:
        await apply_event(
            record_stock_reserved, stock_reserved(order.order_id), transactions, wired
        )

    assert refused.value.code == code
    assert transactions.emitted.of_type(PaymentCaptured) == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.AUTHORISED


async def test_a_void_the_provider_refuses_is_dead_lettered() -> None:
    # Refused both ways: the void, then the capture the refusal may hide (decision 100).
    transactions = fake_transactions()
    closed = ProviderRejected("authorisation_closed", "x")
    provider = ScriptedProvider().answer("void", closed).answer("capture", closed)
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)

    with pytest.raises(PermanentError) as refused:
        await apply_event(
            record_stock_unavailable, stock_unavailable(order.order_id), transactions, wired
        )

    assert refused.value.code == "void_rejected"
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.AUTHORISED


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (ProviderRejected("authorisation_closed", "lapsed"), "(authorisation_closed)"),
        # A decline of a marked key is a refusal after it too (real adapters answer so).
        (
            ProviderResult.decline("authorisation_expired", "the authorisation expired"),
            "(authorisation_expired)",
        ),
    ],
    ids=["refused", "declined"],
)
async def test_a_capture_refused_after_an_unanswered_call_is_dead_lettered_not_retried(
    answer: ProviderRejected | ProviderResult, named: str
) -> None:
    # The provider refuses the key again on every retry: the batch retried it for ever,
    # holding back every order on the partition. Ops check whether the first call captured.
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("capture", ProviderUnavailable("timeout"), answer)
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)

    with pytest.raises(PermanentError) as dead_lettered:
        await apply_event(
            record_stock_reserved, stock_reserved(order.order_id), transactions, wired
        )

    assert dead_lettered.value.code == "capture_refused_after_unknown"
    assert f"{named} after an earlier call" in dead_lettered.value.reason
    assert "check with the provider" in dead_lettered.value.reason
    assert transactions.emitted.of_type(PaymentCaptured) == []


async def test_a_payment_whose_provider_is_gone_is_dead_lettered() -> None:
    transactions = fake_transactions()
    wired = dependencies(ScriptedProvider())
    order = await authorised_order(transactions, wired)
    renamed = {**wired, **dependencies(ScriptedProvider(name="another"))}

    with pytest.raises(PermanentError) as refused:
        await apply_event(
            record_stock_reserved, stock_reserved(order.order_id), transactions, renamed
        )

    assert refused.value.code == "provider_not_configured"


async def test_a_release_whose_void_a_lost_capture_refuses_finishes_the_capture() -> None:
    # Review (helper 130): the capture was answered and the process killed before its
    # commit; the reservation's release was read first, its void refused and dead-lettered,
    # and the capture recorded later with no release left to see it. Finished now, the
    # payment is captured (the order's cancellation refunds it).
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired, total="55.44")
    reserved = stock_reserved(order.order_id)
    await lost_before_commit(record_stock_reserved, reserved, transactions, wired)
    provider.answer("void", ProviderRejected("authorisation_closed", "it was captured"))

    released = reservation_released(order.order_id)
    await apply_event(record_reservation_released, released, transactions, wired)

    (captured,) = transactions.emitted.of_type(PaymentCaptured)
    assert str(captured.amount) == "55.44 EUR"
    assert transactions.emitted.of_type(PaymentVoided) == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.CAPTURED


async def test_a_capture_refused_too_after_a_refused_void_leaves_the_voids_refusal() -> None:
    # Review (helper 132): the capture found the provider unavailable (nothing done); the
    # void was refused, the finishing capture too, and the capture's refusal was
    # dead-lettered in place of the void's.
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("capture", *[ProviderUnavailable("http_503")] * 3)
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)
    with pytest.raises(TransientError):
        await apply_event(
            record_stock_reserved, stock_reserved(order.order_id), transactions, wired
        )
    provider.answer("void", ProviderRejected("authorisation_closed", "lapsed"))
    provider.answer("capture", ProviderRejected("authorisation_closed", "lapsed"))

    released = reservation_released(order.order_id)
    with pytest.raises(PermanentError) as dead_lettered:
        await apply_event(record_reservation_released, released, transactions, wired)

    assert dead_lettered.value.code == "void_rejected"
