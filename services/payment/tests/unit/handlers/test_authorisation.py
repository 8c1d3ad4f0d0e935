"""OrderPlaced → authorise once: approved, declined, provider down, order already dead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events.payments import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
)
from orderflow_payment.adapters.provider_registry import ProviderRegistry
from orderflow_payment.domain.model import OrderFacts, PaymentStatus, StockStatus
from orderflow_payment.domain.providers import (
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    payment_id_for,
)
from orderflow_payment.handlers.authorisation import authorise_payment
from orderflow_payment.handlers.stock import record_reservation_released, record_stock_unavailable
from orderflow_payment.settings import PaymentSettings

from services.payment.tests.builders import order_placed, reservation_released, stock_unavailable
from services.payment.tests.fake_provider import MemoryJournal, ScriptedProvider, dependencies
from services.payment.tests.fakes import fake_transactions, tables_of
from services.payment.tests.unit.handlers.steps import apply_event


async def test_an_approved_authorisation_is_stored_posted_and_announced() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    order = order_placed(total="55.44", token="tok_visa_approve")

    cause = await apply_event(authorise_payment, order, transactions, dependencies(provider))

    tables = tables_of(transactions)
    (envelope,) = transactions.emitted.envelopes
    (event,) = transactions.emitted.of_type(PaymentAuthorized)
    payment_id = payment_id_for(order.order_id)
    reference = f"scripted-authorise-authorise:{order.order_id}"
    assert (event.order_id, event.payment_id, str(event.amount)) == (
        order.order_id,
        payment_id,
        "55.44 EUR",
    )
    assert (event.method, event.provider, event.provider_reference) == (
        "visa",
        "scripted",
        reference,
    )
    ttl = timedelta(seconds=PaymentSettings().authorization_ttl_s)
    assert event.expires_at == transactions.clock.now() + ttl
    assert (envelope.correlation_id, envelope.causation_id) == (
        cause.correlation_id,
        str(cause.event_id),
    )
    row = tables.payments[order.order_id]
    assert row.payment.status is PaymentStatus.AUTHORISED
    assert row.payment.authorisation_reference == reference
    assert row.payment.correlation_id == cause.correlation_id
    assert (row.token_masked, row.caused_by) == ("tok_…rove", cause.event_id)
    assert tables.ledger_of(order.order_id) == [
        ("authorisation", "authorisation_holds", 5544),
        ("authorisation", "customer_authorisations", -5544),
    ]
    assert provider.calls == [("authorise", f"authorise:{order.order_id}")]
    assert tables.locked_orders == [order.order_id]


async def test_stock_already_reserved_captures_in_the_same_unit_of_work() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    order = order_placed(total="20.00")
    tables_of(transactions).order_facts[order.order_id] = OrderFacts(StockStatus.RESERVED)

    await apply_event(authorise_payment, order, transactions, dependencies(provider))

    assert [type(e) for e in transactions.emitted.events] == [PaymentAuthorized, PaymentCaptured]
    (captured,) = transactions.emitted.of_type(PaymentCaptured)
    assert str(captured.amount) == "20.00 EUR"
    payment = tables_of(transactions).payment(order.order_id)
    assert payment.status is PaymentStatus.CAPTURED
    assert payment.capture_reference == captured.provider_reference
    assert [op for op, _ in provider.calls] == ["authorise", "capture"]
    kinds = {kind for kind, _, _ in tables_of(transactions).ledger_of(order.order_id)}
    assert kinds == {"authorisation", "capture"}


async def test_a_capture_refused_after_the_authorisation_keeps_the_authorisation() -> None:
    # The provider holds the money: undone with the record, the hold would have no row, and
    # nothing would ever void it. Kept, the reservation's release voids it.
    declined = ProviderResult.decline("capture_failed", "DECLINED", "cap-1")
    provider = ScriptedProvider().answer("capture", declined)
    transactions, wired = fake_transactions(), dependencies(provider)
    order = order_placed(total="20.00")
    tables_of(transactions).order_facts[order.order_id] = OrderFacts(StockStatus.RESERVED)

    await apply_event(authorise_payment, order, transactions, wired)

    assert [type(e) for e in transactions.emitted.events] == [PaymentAuthorized]
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.AUTHORISED
    await apply_event(
        record_reservation_released, reservation_released(order.order_id), transactions, wired
    )
    assert [type(e) for e in transactions.emitted.events] == [PaymentAuthorized, PaymentVoided]
    assert [op for op, _ in provider.calls] == ["authorise", "capture", "void"]


async def test_a_capture_refused_after_an_unanswered_call_is_still_a_dead_letter() -> None:
    # That capture may have been made: keeping the authorisation would let the reservation's
    # release try to void a charge. The record goes to ops with the exact code.
    refused = ProviderRejected("charge_already_captured", "it may be captured")
    provider = ScriptedProvider().answer("capture", ProviderUnavailable("timeout"), refused)
    transactions, wired = fake_transactions(), dependencies(provider)
    order = order_placed(total="20.00")
    tables_of(transactions).order_facts[order.order_id] = OrderFacts(StockStatus.RESERVED)

    with pytest.raises(PermanentError) as refusal:
        await apply_event(authorise_payment, order, transactions, wired)

    assert refusal.value.code == "capture_refused_after_unknown"


async def test_the_same_order_placed_twice_authorises_once() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    order = order_placed()
    wired = dependencies(provider)

    await apply_event(authorise_payment, order, transactions, wired)
    await apply_event(authorise_payment, order, transactions, wired)

    assert len(transactions.emitted.envelopes) == 1
    assert len(provider.calls) == 1
    assert len(tables_of(transactions).ledger_of(order.order_id)) == 2
    assert tables_of(transactions).locked_orders == [order.order_id, order.order_id]


async def test_a_decline_is_stored_and_announced_with_the_providers_reason() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer(
        "authorise",
        ProviderResult.decline("insufficient_funds", "The card has insufficient funds.", "d-1"),
    )
    order = order_placed(total="12.00")

    await apply_event(authorise_payment, order, transactions, dependencies(provider))

    (declined,) = transactions.emitted.events
    assert isinstance(declined, PaymentDeclined)
    assert (declined.reason_code, declined.message) == (
        "insufficient_funds",
        "The card has insufficient funds.",
    )
    assert (declined.provider, declined.provider_reference) == ("scripted", "d-1")
    assert str(declined.amount) == "12.00 EUR"
    row = tables_of(transactions).payments[order.order_id]
    assert (row.payment.status, row.decline_code) == (PaymentStatus.DECLINED, "insufficient_funds")
    assert tables_of(transactions).ledger_of(order.order_id) == [], "a decline moves no money"


async def test_a_decline_code_the_contract_cannot_carry_becomes_do_not_honour() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("authorise", ProviderResult.decline("Card-Blocked!", ""))

    await apply_event(authorise_payment, order_placed(), transactions, dependencies(provider))

    (declined,) = transactions.emitted.of_type(PaymentDeclined)
    assert (declined.reason_code, declined.message) == ("do_not_honour", "do_not_honour")


async def test_a_provider_down_past_the_retries_declines_with_provider_unavailable() -> None:
    transactions = fake_transactions()
    sleeps: list[float] = []
    provider = ScriptedProvider().answer("authorise", *[ProviderUnavailable("http_503")] * 3)
    order = order_placed()

    await apply_event(authorise_payment, order, transactions, dependencies(provider, sleeps=sleeps))

    (declined,) = transactions.emitted.of_type(PaymentDeclined)
    assert declined.reason_code == "provider_unavailable"
    assert "after 3 attempts (http_503)" in declined.message
    assert provider.keys("authorise") == [f"authorise:{order.order_id}"] * 3, "same key"
    assert len(sleeps) == 2
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.DECLINED


async def test_an_authorisation_whose_outcome_is_unknown_is_never_declined() -> None:
    # Each call timed out after the provider may have placed the hold: declining would leave
    # the customer's money held. The consumer retries the batch; the same key gets the answer.
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("authorise", *[ProviderUnavailable("timeout")] * 3)
    order = order_placed()
    wired = dependencies(provider)

    with pytest.raises(TransientError, match="outcome unknown \\(timeout\\)"):
        await apply_event(authorise_payment, order, transactions, wired)
    assert transactions.emitted.of_type(PaymentDeclined) == []

    await apply_event(authorise_payment, order, transactions, wired)

    assert len(transactions.emitted.of_type(PaymentAuthorized)) == 1
    assert provider.keys("authorise") == [f"authorise:{order.order_id}"] * 4, "same key"


async def test_an_unanswered_authorisation_is_asked_again_and_voided_when_the_order_died() -> None:
    # The call may have placed a hold; the order died while the batch was retried. Giving up
    # would leave the customer's money held: it is asked again under its key, then voided.
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("authorise", *[ProviderUnavailable("timeout")] * 3)
    order = order_placed()
    wired = dependencies(provider)
    with pytest.raises(TransientError):
        await apply_event(authorise_payment, order, transactions, wired)
    await apply_event(
        record_stock_unavailable, stock_unavailable(order.order_id), transactions, wired
    )

    await apply_event(authorise_payment, order, transactions, wired)

    assert [type(e) for e in transactions.emitted.events] == [PaymentAuthorized, PaymentVoided]
    (voided,) = transactions.emitted.of_type(PaymentVoided)
    assert voided.reason == "stock_unavailable"
    assert [op for op, _ in provider.calls] == ["authorise"] * 4 + ["void"]


async def test_an_order_already_dead_with_no_unanswered_call_is_not_authorised() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    order = order_placed()
    wired = dependencies(provider)
    await apply_event(
        record_stock_unavailable, stock_unavailable(order.order_id), transactions, wired
    )

    await apply_event(authorise_payment, order, transactions, wired)

    assert transactions.emitted.events == []
    assert provider.calls == []


async def test_an_authorisation_refused_after_an_unanswered_call_is_declined_not_retried() -> None:
    # The refusal is the provider's answer to this request, and it gives it again: retrying
    # held back every order of the partition for ever.
    transactions = fake_transactions()
    refused = ProviderRejected("bad_request", "token unknown")
    provider = ScriptedProvider().answer("authorise", ProviderUnavailable("timeout"), refused)

    await apply_event(authorise_payment, order_placed(), transactions, dependencies(provider))

    (declined,) = transactions.emitted.of_type(PaymentDeclined)
    assert declined.reason_code == "invalid_token"
    assert declined.message == (
        "the provider refused the request (bad_request) after an earlier call went unanswered"
    )


async def test_a_decline_after_an_unanswered_call_keeps_its_reason() -> None:
    transactions = fake_transactions()
    declined = ProviderResult.decline("insufficient_funds", "Not enough money.")
    provider = ScriptedProvider().answer("authorise", ProviderUnavailable("timeout"), declined)

    await apply_event(authorise_payment, order_placed(), transactions, dependencies(provider))

    (payment_declined,) = transactions.emitted.of_type(PaymentDeclined)
    assert payment_declined.reason_code == "insufficient_funds"
    assert "after an earlier call went unanswered" in payment_declined.message


async def test_a_transient_failure_then_an_answer_authorises() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("authorise", ProviderUnavailable("timeout"))
    order = order_placed()

    await apply_event(authorise_payment, order, transactions, dependencies(provider))

    assert len(transactions.emitted.of_type(PaymentAuthorized)) == 1
    assert len(provider.keys("authorise")) == 2


async def test_a_request_the_provider_refuses_declines_as_an_invalid_token() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer(
        "authorise", ProviderRejected("bad_request", "token unknown")
    )

    await apply_event(authorise_payment, order_placed(), transactions, dependencies(provider))

    (declined,) = transactions.emitted.of_type(PaymentDeclined)
    assert declined.reason_code == "invalid_token"
    assert "bad_request" in declined.message
    assert len(provider.calls) == 1, "a refusal is not retried"


@pytest.mark.parametrize(
    "facts",
    [
        OrderFacts(StockStatus.UNAVAILABLE),
        OrderFacts(StockStatus.RELEASED),
        OrderFacts(StockStatus.RESERVED, cancelled_reason="customer_requested"),
    ],
)
async def test_an_order_already_dead_is_never_authorised(facts: OrderFacts) -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    order = order_placed()
    tables_of(transactions).order_facts[order.order_id] = facts

    await apply_event(authorise_payment, order, transactions, dependencies(provider))

    assert transactions.emitted.envelopes == []
    assert provider.calls == []
    assert tables_of(transactions).payments == {}


async def test_a_method_without_a_provider_is_refused_for_good() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = {
        **dependencies(provider),
        "providers": ProviderRegistry({"visa": provider}, journal=MemoryJournal()),
    }

    with pytest.raises(PermanentError) as refused:
        await apply_event(authorise_payment, order_placed(method="paypal"), transactions, wired)

    assert refused.value.code == "provider_not_configured"
    assert transactions.emitted.envelopes == []
    assert provider.calls == []
