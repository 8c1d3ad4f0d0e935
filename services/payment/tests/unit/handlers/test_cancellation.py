"""OrderCancelled → void an authorisation, refund what was captured, or remember it."""

from __future__ import annotations

import pytest
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events.orders import OrderPlaced
from orderflow_contracts.events.payments import (
    PaymentCaptured,
    PaymentVoided,
    RefundFailed,
    RefundIssued,
)
from orderflow_payment.domain.model import PaymentStatus
from orderflow_payment.domain.providers import (
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    cancellation_refund_id,
)
from orderflow_payment.handlers.authorisation import authorise_payment
from orderflow_payment.handlers.cancellation import cancel_payment
from orderflow_payment.handlers.refunds import refund_payment
from orderflow_payment.handlers.stock import record_stock_reserved

from services.payment.tests.builders import (
    order_cancelled,
    order_placed,
    refund_requested,
    stock_reserved,
)
from services.payment.tests.fake_provider import ScriptedProvider, dependencies
from services.payment.tests.fakes import fake_transactions, tables_of
from services.payment.tests.unit.handlers.steps import (
    Transactions,
    apply_event,
    authorised_order,
    captured_order,
    lost_before_commit,
)


async def capture_left_unanswered(
    provider: ScriptedProvider, *, total: str = "55.44"
) -> tuple[Transactions, dict[str, object], OrderPlaced]:
    """An authorised order whose capture (on StockReserved) got no answer: its batch waits to
    retry it, with the capture's key marked as maybe done."""
    transactions = fake_transactions()
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired, total=total)
    with pytest.raises(TransientError):
        await apply_event(
            record_stock_reserved, stock_reserved(order.order_id), transactions, wired
        )
    return transactions, wired, order


async def test_cancelling_an_authorised_order_voids_it() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    (voided,) = transactions.emitted.of_type(PaymentVoided)
    assert voided.reason == "order_cancelled"
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.VOIDED
    facts = tables_of(transactions).order_facts[order.order_id]
    assert facts.cancelled_reason == "customer_requested"


async def test_cancelling_after_a_partial_refund_refunds_the_rest_once() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="70.00")
    await apply_event(
        refund_payment, refund_requested(order.order_id, "20.00"), transactions, wired
    )
    cancelled = order_cancelled(order.order_id)

    cause = await apply_event(cancel_payment, cancelled, transactions, wired)
    await apply_event(cancel_payment, cancelled, transactions, wired)  # delivered twice

    refunds = transactions.emitted.of_type(RefundIssued)
    assert len(refunds) == 2
    refund = refunds[1]
    assert refund.refund_id == cancellation_refund_id(order.order_id)
    assert (str(refund.amount), str(refund.total_refunded)) == ("50.00 EUR", "70.00 EUR")
    assert refund.rma_id is None
    # Under a key naming the 20.00 refunded before it (decision 100).
    assert provider.keys("refund").count(f"refund:{refund.refund_id}:after:2000") == 1
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.REFUNDED
    row = tables_of(transactions).refunds[refund.refund_id]
    assert (row.status, row.caused_by) == ("issued", cause.event_id)


async def test_cancelling_a_declined_payment_moves_nothing() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("authorise", ProviderResult.decline("fraud", "no"))
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)
    emitted = len(transactions.emitted.envelopes)

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    assert len(transactions.emitted.envelopes) == emitted
    assert [op for op, _ in provider.calls] == ["authorise"]


async def test_a_cancellation_before_the_order_stops_its_authorisation() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = order_placed()

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)
    await apply_event(authorise_payment, order, transactions, wired)

    assert transactions.emitted.envelopes == []
    assert provider.calls == []
    assert tables_of(transactions).payments == {}


async def test_the_first_cancellation_reason_is_kept() -> None:
    transactions = fake_transactions()
    wired = dependencies(ScriptedProvider())
    order_id = order_placed().order_id

    await apply_event(
        cancel_payment, order_cancelled(order_id, "payment_declined"), transactions, wired
    )
    await apply_event(
        cancel_payment, order_cancelled(order_id, "customer_requested"), transactions, wired
    )

    assert tables_of(transactions).order_facts[order_id].cancelled_reason == "payment_declined"


async def test_a_cancelled_orders_refund_waits_for_the_provider_rather_than_fails() -> None:
    # Nobody asks for a cancellation's refund again: failing it would leave the order charged
    # and not shipped for good. The consumer retries the batch until the provider is back.
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("refund", *[ProviderUnavailable("http_503")] * 3)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="70.00")
    cancelled = order_cancelled(order.order_id)

    with pytest.raises(TransientError):
        await apply_event(cancel_payment, cancelled, transactions, wired)
    assert transactions.emitted.of_type(RefundFailed) == []

    await apply_event(cancel_payment, cancelled, transactions, wired)

    (refund,) = transactions.emitted.of_type(RefundIssued)
    assert str(refund.amount) == "70.00 EUR"


async def test_a_cancelled_orders_refund_the_provider_refuses_goes_to_ops() -> None:
    # It was a RefundFailed nobody reads (returns ignores a refund it did not ask for), and a
    # redelivery found it answered: the cancelled order stayed charged, unnoticed.
    transactions = fake_transactions()
    refused = ProviderResult.decline("provider_refused", "the card account is closed", None)
    provider = ScriptedProvider().answer("refund", refused)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="70.00")
    cancelled = order_cancelled(order.order_id)

    with pytest.raises(PermanentError) as dead_lettered:
        await apply_event(cancel_payment, cancelled, transactions, wired)
    assert dead_lettered.value.code == "cancellation_refund_refused"
    assert "stays charged until ops refund it" in dead_lettered.value.reason
    assert transactions.emitted.of_type(RefundFailed) == []
    assert transactions.emitted.of_type(RefundIssued) == []


async def test_a_cancelled_orders_refund_refused_after_an_unanswered_call_goes_to_ops() -> None:
    transactions = fake_transactions()
    refused = ProviderRejected("http_403", "refused")
    provider = ScriptedProvider().answer("refund", ProviderUnavailable("timeout"), refused)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="70.00")

    with pytest.raises(PermanentError) as dead_lettered:
        await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    assert dead_lettered.value.code == "cancellation_refund_outcome_unknown"
    assert "check with the provider whether it was paid" in dead_lettered.value.reason
    assert transactions.emitted.of_type(RefundFailed) == []
    assert transactions.emitted.of_type(RefundIssued) == []


async def test_a_void_refused_after_an_unanswered_capture_finishes_it_and_refunds() -> None:
    # The capture timed out (the provider did it; its answer was lost) and the batch waits to
    # retry it, while the cancellation, on another topic, is read first: the provider refuses
    # the void of a captured authorisation. That was a dead letter, and the retried capture
    # then charged a cancelled order for good.
    provider = (
        ScriptedProvider()
        .answer("capture", *[ProviderUnavailable("timeout")] * 3)
        .answer("void", ProviderRejected("authorisation_closed", "it was captured"))
    )
    transactions, wired, order = await capture_left_unanswered(provider, total="70.00")

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    assert transactions.emitted.of_type(PaymentVoided) == []
    (captured,) = transactions.emitted.of_type(PaymentCaptured)
    (refund,) = transactions.emitted.of_type(RefundIssued)
    assert (str(captured.amount), str(refund.amount)) == ("70.00 EUR", "70.00 EUR")
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.REFUNDED
    capture_key = f"capture:{captured.payment_id}"
    assert provider.keys("capture") == [capture_key] * 4, "finished under the capture's own key"


async def test_a_cancellation_rolled_back_after_the_capture_answered_still_finishes_it() -> None:
    # The finishing capture was answered, then the refund timed out and the whole attempt
    # rolled back. The answer did not commit: the retry must still know the capture may have
    # been made. When the answer cleared the mark, the retry's refused void was a dead letter
    # and the capture, retried on StockReserved, charged the cancelled order for good.
    refused = ProviderRejected("authorisation_closed", "it was captured")
    provider = (
        ScriptedProvider()
        .answer("capture", *[ProviderUnavailable("timeout")] * 3)
        .answer("void", refused, refused)
        .answer("refund", *[ProviderUnavailable("timeout")] * 3)
    )
    transactions, wired, order = await capture_left_unanswered(provider, total="70.00")
    with pytest.raises(TransientError):
        await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    (refund,) = transactions.emitted.of_type(RefundIssued)
    assert str(refund.amount) == "70.00 EUR"
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.REFUNDED


async def test_a_void_refused_with_no_capture_made_is_still_a_dead_letter() -> None:
    # The capture the refusal may hide is asked for under its key (decision 100); the
    # provider, which made none, refuses it too: the void's refusal goes to ops.
    transactions = fake_transactions()
    gone = ProviderRejected("unknown_reference", "gone")
    provider = ScriptedProvider().answer("void", gone).answer("capture", gone)
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired)

    with pytest.raises(PermanentError) as dead_lettered:
        await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    assert dead_lettered.value.code == "void_rejected"
    assert transactions.emitted.of_type(PaymentCaptured) == []


@pytest.mark.parametrize(
    "capture_answer",
    [
        ProviderRejected("authorisation_closed", "lapsed"),
        # A decline is a refusal written as an answer (a card processor's 402): after the
        # capture's unanswered call it says no more than a refusal does.
        ProviderResult.decline("card_closed", "the card account is closed", None),
    ],
    ids=["refused", "declined"],
)
async def test_a_capture_refused_too_leaves_the_voids_refusal_to_ops_not_a_stalled_partition(
    capture_answer: ProviderRejected | ProviderResult,
) -> None:
    # Both the void and the finishing capture refused (the authorisation lapsed at the
    # provider, say): no retry changes that, so the void's refusal goes to ops rather than
    # the cancellation being retried for ever.
    provider = (
        ScriptedProvider()
        .answer("capture", *[ProviderUnavailable("timeout")] * 3, capture_answer)
        .answer("void", ProviderRejected("authorisation_closed", "lapsed"))
    )
    transactions, wired, order = await capture_left_unanswered(provider)

    with pytest.raises(PermanentError) as dead_lettered:
        await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    assert dead_lettered.value.code == "void_rejected"
    assert transactions.emitted.of_type(PaymentCaptured) == []
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.AUTHORISED


async def test_a_finishing_capture_the_provider_cannot_answer_is_tried_again() -> None:
    provider = (
        ScriptedProvider()
        .answer("capture", *[ProviderUnavailable("timeout")] * 6)
        .answer("void", ProviderRejected("authorisation_closed", "it was captured"))
    )
    transactions, wired, order = await capture_left_unanswered(provider)

    with pytest.raises(TransientError):
        await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    assert transactions.emitted.of_type(PaymentCaptured) == []


async def test_a_void_refused_after_a_capture_whose_answer_a_crash_lost_finishes_it() -> None:
    # Review (helper 130): the capture was answered and the process killed before its commit;
    # only a timeout marked a capture as maybe done, in memory. The cancellation's void was
    # refused and dead-lettered, and StockReserved's redelivery then captured the cancelled
    # order for good.
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await authorised_order(transactions, wired, total="70.00")
    reserved = stock_reserved(order.order_id)
    await lost_before_commit(record_stock_reserved, reserved, transactions, wired)
    provider.answer("void", ProviderRejected("authorisation_closed", "it was captured"))

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    (captured,) = transactions.emitted.of_type(PaymentCaptured)
    (refund,) = transactions.emitted.of_type(RefundIssued)
    assert (str(captured.amount), str(refund.amount)) == ("70.00 EUR", "70.00 EUR")
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.REFUNDED
    assert provider.keys("capture") == [f"capture:{captured.payment_id}"] * 2


async def test_a_cancellation_refund_asks_for_what_is_left_when_a_refund_came_between() -> None:
    # Review (helper 132) of decision 100: the cancellation's refund found the provider
    # unavailable (it did nothing) and its batch waited; meanwhile returns' refund of 20.00
    # was issued. The retry asked for the 50.00 left under the key written down with 70.00:
    # refused as a reused key and dead-lettered, the cancelled order left charged.
    provider = ScriptedProvider().answer("refund", *[ProviderUnavailable("http_503")] * 3)
    transactions = fake_transactions()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="70.00")
    with pytest.raises(TransientError):
        await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)
    await apply_event(
        refund_payment, refund_requested(order.order_id, "20.00"), transactions, wired
    )

    await apply_event(cancel_payment, order_cancelled(order.order_id), transactions, wired)

    issued = transactions.emitted.of_type(RefundIssued)
    assert [str(refund.amount) for refund in issued] == ["20.00 EUR", "50.00 EUR"]
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.REFUNDED
    first_key = f"refund:{cancellation_refund_id(order.order_id)}"
    assert provider.keys("refund")[-1] == f"{first_key}:after:2000"
