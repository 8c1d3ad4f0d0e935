"""RefundRequested → refund up to captured - refunded, once per refund id; refusals say why."""

from __future__ import annotations

import uuid

import pytest
from orderflow_chassis.errors import PermanentError, TransientError
from orderflow_contracts.events.payments import RefundFailed, RefundIssued
from orderflow_payment.adapters.provider_registry import ProviderRegistry
from orderflow_payment.domain.model import PaymentStatus
from orderflow_payment.domain.providers import ProviderRejected, ProviderResult, ProviderUnavailable
from orderflow_payment.handlers._provider_calls import UNKNOWN_OUTCOMES
from orderflow_payment.handlers.lock_ahead import lock_batch
from orderflow_payment.handlers.refunds import refund_payment

from services.payment.tests.builders import refund_requested
from services.payment.tests.fake_provider import MemoryJournal, ScriptedProvider, dependencies
from services.payment.tests.fakes import fake_transactions, tables_of
from services.payment.tests.unit.handlers.steps import (
    apply_event,
    authorised_order,
    captured_order,
    lost_before_commit,
)


async def test_a_partial_refund_is_issued_stored_and_posted() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="80.00")
    rma_id = uuid.uuid4()
    asked = refund_requested(order.order_id, "30.00", rma_id=rma_id)

    cause = await apply_event(refund_payment, asked, transactions, wired)

    (issued,) = transactions.emitted.of_type(RefundIssued)
    payment = tables_of(transactions).payment(order.order_id)
    assert (issued.refund_id, issued.rma_id, issued.payment_id) == (
        asked.refund_id,
        rma_id,
        payment.payment_id,
    )
    assert (str(issued.amount), str(issued.total_refunded)) == ("30.00 EUR", "30.00 EUR")
    assert issued.provider_reference == f"scripted-refund-refund:{asked.refund_id}"
    assert (payment.status, str(payment.refunded)) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        "30.00 EUR",
    )
    row = tables_of(transactions).refunds[asked.refund_id]
    assert (row.status, row.caused_by, row.rma_id) == ("issued", cause.event_id, rma_id)
    assert row.provider_reference == issued.provider_reference
    assert tables_of(transactions).ledger_of(order.order_id)[-2:] == [
        ("refund", "refunds", 3000),
        ("refund", "provider_receivable", -3000),
    ]


async def test_a_refund_id_is_locked_before_it_is_looked_up() -> None:
    # Review (helper 118): one refund id sent for two orders was guarded only by each order's
    # lock; both looked it up, found nothing and called the provider under one key.
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="80.00")
    asked = refund_requested(order.order_id, "30.00")

    await apply_event(refund_payment, asked, transactions, wired)

    calls = tables_of(transactions).refund_calls
    assert calls[:2] == [("lock", asked.refund_id), ("get", asked.refund_id)]


async def test_a_batch_locks_its_refund_ids_sorted_after_its_orders() -> None:
    transactions = fake_transactions()
    asks = [refund_requested(uuid.uuid4(), "1.00") for _ in range(3)]
    async with transactions.begin() as uow:
        await lock_batch(asks, uow)
    tables = tables_of(transactions)
    assert tables.batch_locks == ["orders", "refunds"], "orders first, as every refund does"
    assert set(tables.locked_refunds) == {ask.refund_id for ask in asks}
    assert set(tables.locked_orders) == {ask.order_id for ask in asks}


async def test_refunds_up_to_the_capture_then_over_it_fails() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="50.00")

    for amount in ("20.00", "30.00", "0.01"):
        await apply_event(
            refund_payment, refund_requested(order.order_id, amount), transactions, wired
        )

    issued = transactions.emitted.of_type(RefundIssued)
    assert [str(e.total_refunded) for e in issued] == ["20.00 EUR", "50.00 EUR"]
    (failed,) = transactions.emitted.of_type(RefundFailed)
    assert failed.reason_code == "exceeds_captured"
    assert "0.00 EUR left" in failed.message
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.REFUNDED
    assert len(provider.keys("refund")) == 2, "a refusal never reaches the provider"


async def test_the_same_refund_id_twice_refunds_once() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "10.00")

    await apply_event(refund_payment, asked, transactions, wired)
    await apply_event(refund_payment, asked, transactions, wired)

    assert len(transactions.emitted.of_type(RefundIssued)) == 1
    assert transactions.emitted.of_type(RefundFailed) == []
    assert len(provider.keys("refund")) == 1
    assert str(tables_of(transactions).payment(order.order_id).refunded) == "10.00 EUR"


@pytest.mark.parametrize("first_failure", ["provider_unavailable", None])
async def test_a_refund_id_asked_again_for_another_amount_is_refused(
    first_failure: str | None,
) -> None:
    # Whether the first answer was a retryable provider_unavailable or an issued refund, the
    # same id for another amount would pay an amount the records do not hold: dead-lettered.
    transactions = fake_transactions()
    provider = ScriptedProvider()
    if first_failure:
        provider.answer("refund", *[ProviderUnavailable("http_503")] * 3)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    first = refund_requested(order.order_id, "10.00")
    await apply_event(refund_payment, first, transactions, wired)
    calls = len(provider.keys("refund"))

    again = refund_requested(order.order_id, "30.00", refund_id=first.refund_id)
    with pytest.raises(PermanentError, match="refund_id names one refund") as refused:
        await apply_event(refund_payment, again, transactions, wired)

    assert refused.value.code == "refund_id_reused"
    assert len(provider.keys("refund")) == calls, "the provider was not asked"
    assert tables_of(transactions).refunds[first.refund_id].amount == first.amount
    assert len(transactions.emitted.of_type(RefundIssued)) == (0 if first_failure else 1)


async def test_a_refund_of_nothing_captured_fails_with_not_captured() -> None:
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    authorised = await authorised_order(transactions, wired)
    unknown = refund_requested(uuid.uuid4(), "5.00")

    await apply_event(
        refund_payment, refund_requested(authorised.order_id, "5.00"), transactions, wired
    )
    await apply_event(refund_payment, unknown, transactions, wired)

    first, second = transactions.emitted.of_type(RefundFailed)
    assert (first.reason_code, second.reason_code) == ("not_captured", "not_captured")
    assert "the payment is authorised" in first.message
    assert "no payment" in second.message
    assert tables_of(transactions).refunds[unknown.refund_id].payment_id is None
    assert provider.keys("refund") == []


async def test_a_refund_in_another_currency_fails() -> None:
    transactions = fake_transactions()
    wired = dependencies(ScriptedProvider())
    order = await captured_order(transactions, wired, total="40.00")

    await apply_event(
        refund_payment,
        refund_requested(order.order_id, "5.00", currency="USD"),
        transactions,
        wired,
    )

    (failed,) = transactions.emitted.of_type(RefundFailed)
    assert failed.reason_code == "currency_mismatch"
    assert str(tables_of(transactions).payment(order.order_id).refunded) == "0.00 EUR"


async def test_a_refund_the_provider_declines_or_refuses_fails_with_provider_refused() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer(
        "refund",
        ProviderResult.decline("provider_refused", "The provider refused the refund."),
        ProviderRejected("invalid_reference", "no capture"),
    )
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")

    for _ in range(2):
        await apply_event(
            refund_payment, refund_requested(order.order_id, "5.00"), transactions, wired
        )

    declined, rejected = transactions.emitted.of_type(RefundFailed)
    assert (declined.reason_code, declined.message) == (
        "provider_refused",
        "The provider refused the refund.",
    )
    assert (rejected.reason_code, rejected.message) == (
        "provider_refused",
        "provider refused: invalid_reference",
    )
    assert tables_of(transactions).payment(order.order_id).status is PaymentStatus.CAPTURED


async def test_a_refund_the_provider_never_answered_is_retried_with_the_same_id() -> None:
    # A timeout may have paid the refund: no RefundFailed (a retry under a new refund id could
    # pay twice); the consumer retries the batch, and the same key gets the answer.
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("refund", *[ProviderUnavailable("timeout")] * 3)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")

    with pytest.raises(TransientError, match="provider unavailable \\(timeout\\)"):
        await apply_event(refund_payment, asked, transactions, wired)
    assert transactions.emitted.of_type(RefundFailed) == []
    assert asked.refund_id not in tables_of(transactions).refunds

    await apply_event(refund_payment, asked, transactions, wired)

    (issued,) = transactions.emitted.of_type(RefundIssued)
    assert issued.refund_id == asked.refund_id
    assert tables_of(transactions).refunds[asked.refund_id].status == "issued"
    assert provider.keys("refund") == [f"refund:{asked.refund_id}"] * 4


async def test_a_refund_the_provider_certainly_did_not_start_fails_and_may_be_asked_again() -> None:
    transactions = fake_transactions()
    provider = ScriptedProvider().answer("refund", *[ProviderUnavailable("http_503")] * 3)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")

    await apply_event(refund_payment, asked, transactions, wired)

    (failed,) = transactions.emitted.of_type(RefundFailed)
    assert failed.reason_code == "provider_unavailable"
    assert "did nothing after 3 attempts (http_503)" in failed.message


async def test_a_refund_that_timed_out_once_is_never_concluded_by_a_later_503() -> None:
    # The timeout may have paid it; the 503s after it say nothing of that call.
    transactions = fake_transactions()
    timeout, unavailable = ProviderUnavailable("timeout"), ProviderUnavailable("http_503")
    provider = ScriptedProvider().answer("refund", timeout, unavailable, unavailable)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")

    with pytest.raises(TransientError):
        await apply_event(refund_payment, asked, transactions, wired)
    provider.answer("refund", unavailable, unavailable, unavailable)  # the next batch attempt
    with pytest.raises(TransientError):
        await apply_event(refund_payment, asked, transactions, wired)

    assert transactions.emitted.of_type(RefundFailed) == []


async def test_a_refusal_after_a_timeout_fails_as_outcome_unknown_and_may_be_asked_again() -> None:
    # The provider may have paid the timed-out call, and a refusal of the retry says nothing of
    # that. It is the provider's answer all the same, and it refuses the key again: retrying
    # the batch held every order of the partition back for ever.
    transactions = fake_transactions()
    refused = ProviderRejected("http_403", "refund refused by the provider")
    provider = ScriptedProvider().answer("refund", ProviderUnavailable("timeout"), refused)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")

    await apply_event(refund_payment, asked, transactions, wired)

    (failed,) = transactions.emitted.of_type(RefundFailed)
    assert (failed.refund_id, failed.reason_code) == (asked.refund_id, "outcome_unknown")
    assert "(http_403) after an earlier call with its id went unanswered" in failed.message
    assert "may have been paid: check with the provider" in failed.message
    assert tables_of(transactions).refunds[asked.refund_id].failure_code == "outcome_unknown"
    assert str(tables_of(transactions).payment(order.order_id).refunded) == "0.00 EUR"

    # Asked again under its id (returns' retry-refund), the provider answers for the key.
    await apply_event(refund_payment, asked, transactions, wired)

    (issued,) = transactions.emitted.of_type(RefundIssued)
    assert issued.refund_id == asked.refund_id
    assert provider.keys("refund") == [f"refund:{asked.refund_id}"] * 3


async def test_a_refund_whose_provider_is_not_configured_fails_and_may_be_asked_again() -> None:
    # It was a dead letter: returns never heard, and its RMA waited in refund_requested,
    # where ops' refund_failed listing does not look.
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")
    unconfigured = {
        **wired,
        "providers": ProviderRegistry({"visa": ScriptedProvider("other")}, journal=MemoryJournal()),
    }

    await apply_event(refund_payment, asked, transactions, unconfigured)

    (failed,) = transactions.emitted.of_type(RefundFailed)
    assert (failed.refund_id, failed.reason_code) == (asked.refund_id, "provider_not_configured")
    assert "'scripted'" in failed.message
    assert failed.message.endswith("configure it, then ask again under the same refund_id")
    assert provider.keys("refund") == []

    await apply_event(refund_payment, asked, transactions, wired)

    (issued,) = transactions.emitted.of_type(RefundIssued)
    assert issued.refund_id == asked.refund_id


async def test_a_refund_failed_outcome_unknown_stays_so_after_a_restart() -> None:
    # The unanswered call was remembered only in the process: after a restart a refusal of the
    # key read as a plain refusal, the refund id ended provider_refused, and returns' retry
    # then asked under a new id, which the provider could pay a second time.
    transactions = fake_transactions()
    refused = ProviderRejected("http_403", "refused")
    provider = ScriptedProvider().answer("refund", ProviderUnavailable("timeout"), refused, refused)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")
    await apply_event(refund_payment, asked, transactions, wired)
    UNKNOWN_OUTCOMES.forget(f"refund:{asked.refund_id}")  # what a restart forgets

    await apply_event(refund_payment, asked, transactions, wired)

    first, again = transactions.emitted.of_type(RefundFailed)
    assert (first.reason_code, again.reason_code) == ("outcome_unknown", "outcome_unknown")
    assert tables_of(transactions).refunds[asked.refund_id].failure_code == "outcome_unknown"


async def test_a_decline_after_an_unanswered_call_fails_as_outcome_unknown_too() -> None:
    # Real adapters answer a refused refund as a decline (a card processor's 402, PayPal's
    # 422), not as a refusal: it cleared the mark and ended provider_refused, after which a
    # retry under a new refund id could pay the refund twice.
    transactions = fake_transactions()
    declined = ProviderResult.decline("provider_refused", "The provider refused the refund.")
    provider = ScriptedProvider().answer("refund", ProviderUnavailable("timeout"), declined)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")

    await apply_event(
        refund_payment, refund_requested(order.order_id, "15.00"), transactions, wired
    )

    (failed,) = transactions.emitted.of_type(RefundFailed)
    assert failed.reason_code == "outcome_unknown"


async def test_a_refund_that_may_have_been_paid_stays_outcome_unknown_whatever_it_meets_next() -> (
    None
):
    # Asked again when another refund had taken what was left, it ended exceeds_captured, a
    # final code saying no money moved, though the first call may have paid it.
    transactions = fake_transactions()
    refused = ProviderRejected("http_403", "refused")
    provider = ScriptedProvider().answer("refund", ProviderUnavailable("timeout"), refused)
    wired = dependencies(provider)
    order = await captured_order(transactions, wired, total="40.00")
    asked = refund_requested(order.order_id, "15.00")
    await apply_event(refund_payment, asked, transactions, wired)
    everything = refund_requested(order.order_id, "40.00")  # another refund takes it all
    await apply_event(refund_payment, everything, transactions, wired)

    await apply_event(refund_payment, asked, transactions, wired)

    first, again = transactions.emitted.of_type(RefundFailed)
    assert (first.reason_code, again.reason_code) == ("outcome_unknown", "outcome_unknown")
    assert again.message.startswith("an earlier call may have paid it (check with the provider)")
    assert "0.00 EUR left" in again.message


async def test_a_refund_id_reused_after_a_crash_lost_its_refund_is_refused() -> None:
    # Review (helper 130): order A's refund was paid and the process killed before its
    # commit; the same refund_id asked for order B found nothing recorded, the provider
    # answered A's refund again, and it was recorded (and announced) as B's; A's redelivery
    # was then dead-lettered as the reuse.
    transactions, provider = fake_transactions(), ScriptedProvider()
    wired = dependencies(provider)
    a = await captured_order(transactions, wired, total="40.00")
    b = await captured_order(transactions, wired, total="40.00")
    refund_id = uuid.uuid4()
    for_a = refund_requested(a.order_id, "10.00", refund_id=refund_id)
    for_b = refund_requested(b.order_id, "25.00", refund_id=refund_id)

    await lost_before_commit(refund_payment, for_a, transactions, wired)
    with pytest.raises(PermanentError) as refused:
        await apply_event(refund_payment, for_b, transactions, wired)
    assert refused.value.code == "refund_id_reused"
    assert str(a.order_id) in refused.value.reason
    assert provider.keys("refund") == [f"refund:{refund_id}"], "B never reached the provider"
    assert refund_id not in tables_of(transactions).refunds

    await apply_event(refund_payment, for_a, transactions, wired)  # A's redelivery
    (issued,) = transactions.emitted.of_type(RefundIssued)
    assert (issued.order_id, str(issued.amount)) == (a.order_id, "10.00 EUR")
    assert str(tables_of(transactions).payment(b.order_id).refunded) == "0.00 EUR"
