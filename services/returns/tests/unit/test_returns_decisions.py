"""Return requests: every rejection reason, its precedence, and quantity arithmetic."""

from datetime import UTC, date, datetime, timedelta

from orderflow_contracts.events import ReturnRejectionCode
from orderflow_returns.domain.returns import (
    Delivery,
    OrderFacts,
    ReturnAuthorisation,
    ReturnDecision,
    ReturnRefusal,
    decide_return,
    returnable_units,
)
from orderflow_returns.domain.window import ReturnWindow

WINDOW = ReturnWindow(30)
DELIVERED = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)
INSIDE = datetime(2025, 3, 5, 23, 59, 59, tzinfo=UTC)
OUTSIDE = datetime(2025, 3, 6, 0, 0, tzinfo=UTC)


def facts(
    *,
    ordered: dict[str, int] | None = None,
    deliveries: tuple[Delivery, ...] = (Delivery("BALL", 2, DELIVERED),),
    returned: dict[str, int] | None = None,
    placed: bool = True,
) -> OrderFacts:
    return OrderFacts(
        order_placed=placed,
        ordered=(ordered if ordered is not None else {"BALL": 2, "SPLINT": 1}) if placed else {},
        deliveries=deliveries,
        returned=returned or {},
        customer_id="cust-1" if placed else None,
    )


def decide(
    lines: list[tuple[str, int]],
    order: OrderFacts,
    at: datetime = INSIDE,
    customer_id: str | None = None,
    authorised_at: datetime | None = None,
) -> ReturnDecision:
    return decide_return(
        lines,
        order,
        at=at,
        authorised_at=authorised_at or at,
        window=WINDOW,
        return_shipping_days=14,
        customer_id=customer_id,
    )


def refusal(decision: object) -> ReturnRefusal:
    assert isinstance(decision, ReturnRefusal), decision
    return decision


def test_authorised_on_the_last_day_with_a_return_by_date_14_days_later() -> None:
    decision = decide([("BALL", 2)], facts())
    assert decision == ReturnAuthorisation((("BALL", 2),), date(2025, 3, 19))


def test_the_return_by_date_counts_from_the_authorisation_not_the_request() -> None:
    # A request made on the last day and authorised three days later (it waited, or the
    # service was behind) is judged at the request, and the customer still gets 14 days to
    # post the parcel from the day the RMA reaches them.
    decision = decide([("BALL", 2)], facts(), authorised_at=INSIDE + timedelta(days=3))
    assert decision == ReturnAuthorisation((("BALL", 2),), date(2025, 3, 22))


def test_rejected_window_expired_from_the_first_instant_of_day_31() -> None:
    decision = refusal(decide([("BALL", 1)], facts(), at=OUTSIDE))
    assert decision.code == ReturnRejectionCode.WINDOW_EXPIRED
    assert decision.message == "BALL: the 30-day return window closed (last day 2025-03-05)"


def test_rejected_unknown_order_when_nothing_is_known() -> None:
    decision = refusal(decide([("BALL", 1)], OrderFacts(order_placed=False)))
    assert decision.code == ReturnRejectionCode.UNKNOWN_ORDER


def test_another_customers_order_is_answered_as_unknown() -> None:
    decision = refusal(decide([("BALL", 1)], facts(), customer_id="cust-2"))
    assert decision.code == ReturnRejectionCode.UNKNOWN_ORDER
    assert isinstance(decide([("BALL", 1)], facts(), customer_id="cust-1"), ReturnAuthorisation)


def test_rejected_unknown_sku() -> None:
    decision = refusal(decide([("SOCK", 1)], facts()))
    assert decision.code == ReturnRejectionCode.UNKNOWN_SKU
    assert decision.message == "SOCK is not part of this order"


def test_rejected_not_delivered_for_an_ordered_line_still_on_its_way() -> None:
    decision = refusal(decide([("SPLINT", 1)], facts()))
    assert decision.code == ReturnRejectionCode.NOT_DELIVERED


def test_rejected_quantity_exceeds_delivered() -> None:
    decision = refusal(decide([("BALL", 3)], facts()))
    assert decision.code == ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    assert decision.message == "BALL: 3 requested, 2 returnable (2 delivered, 0 already returned)"


def test_duplicated_lines_of_one_sku_are_added_up() -> None:
    assert refusal(decide([("BALL", 1), ("BALL", 2)], facts())).code == (
        ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    )
    assert decide([("BALL", 1), ("BALL", 1)], facts()) == ReturnAuthorisation(
        (("BALL", 2),), date(2025, 3, 19)
    )


def test_several_returns_never_take_back_more_than_was_delivered() -> None:
    assert isinstance(decide([("BALL", 1)], facts(returned={"BALL": 1})), ReturnAuthorisation)
    third = refusal(decide([("BALL", 1)], facts(returned={"BALL": 2})))
    assert third.code == ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    assert third.message == "BALL: 1 requested, 0 returnable (2 delivered, 2 already returned)"


def test_one_bad_line_rejects_the_whole_request_with_the_most_fundamental_reason() -> None:
    decision = refusal(decide([("BALL", 5), ("SPLINT", 1), ("SOCK", 1)], facts()))
    assert decision.code == ReturnRejectionCode.UNKNOWN_SKU
    assert [p.code for p in decision.problems] == [
        ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
        ReturnRejectionCode.NOT_DELIVERED,
        ReturnRejectionCode.UNKNOWN_SKU,
    ]
    assert decision.message.count(";") == 2


def test_each_delivery_has_its_own_window_and_returns_use_up_old_units_first() -> None:
    late = DELIVERED + timedelta(days=20)  # second parcel: window open until 2025-03-25
    two_parcels = (Delivery("BALL", 1, DELIVERED), Delivery("BALL", 1, late))
    at = datetime(2025, 3, 10, tzinfo=UTC)  # first window closed, second open
    assert returnable_units(facts(deliveries=two_parcels), "BALL", at, WINDOW) == 1
    assert isinstance(decide([("BALL", 1)], facts(deliveries=two_parcels), at), ReturnAuthorisation)
    both = refusal(decide([("BALL", 2)], facts(deliveries=two_parcels), at))
    assert both.code == ReturnRejectionCode.WINDOW_EXPIRED
    assert both.message == "BALL: 2 requested, only 1 still inside the 30-day return window"
    # one unit already returned: the customer still holds the newest unit
    assert (
        returnable_units(facts(deliveries=two_parcels, returned={"BALL": 1}), "BALL", at, WINDOW)
        == 1
    )
    after_both = datetime(2025, 3, 26, tzinfo=UTC)
    assert returnable_units(facts(deliveries=two_parcels), "BALL", after_both, WINDOW) == 0


def test_deliveries_known_before_the_order_are_enough_to_authorise() -> None:
    early = facts(placed=False)
    assert isinstance(decide([("BALL", 2)], early), ReturnAuthorisation)
    # without the order, an undelivered SKU cannot be told from an unknown one
    assert refusal(decide([("SOCK", 1)], early)).code == ReturnRejectionCode.NOT_DELIVERED


def test_a_very_long_message_is_clipped_to_the_contract_limit() -> None:
    skus = [(f"SKU-{i:04d}", 1) for i in range(60)]
    decision = refusal(decide(skus, facts()))
    assert len(decision.message) == 500
    assert decision.message.endswith("...")


def test_a_closed_window_is_reported_before_the_quantity() -> None:
    decision = refusal(decide([("BALL", 3)], facts(), at=OUTSIDE))
    assert decision.code == ReturnRejectionCode.WINDOW_EXPIRED
    assert [p.code for p in decision.problems] == [ReturnRejectionCode.WINDOW_EXPIRED]
