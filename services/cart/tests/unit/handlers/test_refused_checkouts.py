"""A dead-lettered checkout is answered: the contract's refusal with its cause, the cart's own
failure without it (its cause, kept for ops, may hold what the storefront should not see)."""

from __future__ import annotations

from orderflow_cart.handlers.checkout import answer_refused_checkout
from orderflow_chassis.refusal_answers import RefusedRecord


def refused(*, by_handler: bool, event_type: str | None = "CheckoutRequested") -> RefusedRecord:
    return RefusedRecord(
        code="handler_failed" if by_handler else "invalid_event_data",
        reason="ValueError: internal detail" if by_handler else "data.email: not an e-mail",
        by_handler=by_handler,
        event_type=event_type,
        key="cart-1",
        event_id=None,
        correlation_id=None,
    )


def test_a_checkout_the_contract_refused_is_answered_invalid_request_with_the_cause() -> None:
    answer = answer_refused_checkout(refused(by_handler=False))
    assert answer is not None
    [reason] = answer.reasons
    assert (answer.cart_id, reason.code) == ("cart-1", "invalid_request")
    assert "(invalid_event_data): data.email: not an e-mail" in reason.message


def test_a_checkout_the_cart_set_aside_is_answered_checkout_failed_without_the_cause() -> None:
    answer = answer_refused_checkout(refused(by_handler=True))
    assert answer is not None
    [reason] = answer.reasons
    assert reason.code == "checkout_failed"
    assert "handler_failed" in reason.message
    assert "internal detail" not in reason.message


def test_other_records_and_unreadable_cart_ids_are_not_answered() -> None:
    assert answer_refused_checkout(refused(by_handler=False, event_type="CartItemAdded")) is None
    assert answer_refused_checkout(refused(by_handler=False, event_type=None)) is None
    no_key = RefusedRecord("x", "y", False, "CheckoutRequested", None, None, None)
    assert answer_refused_checkout(no_key) is None
    bad_key = RefusedRecord("x", "y", False, "CheckoutRequested", "cart 1", None, None)
    assert answer_refused_checkout(bad_key) is None
