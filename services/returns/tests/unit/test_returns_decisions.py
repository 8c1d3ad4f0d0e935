"""Return requests: every rejection reason, its precedence, and quantity arithmetic."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from orderflow_contracts.events import ReturnRejectionCode
from orderflow_returns.domain.returns import (
    Delivery,
    EarlierReturn,
    OrderFacts,
    ReturnAuthorisation,
    ReturnDecision,
    ReturnRefusal,
    decide_return,
    returnable_units,
    still_taken_back,
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
        returns=tuple(EarlierReturn(sku, n, DELIVERED) for sku, n in (returned or {}).items()),
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


def test_a_request_stamped_before_its_parcel_came_cannot_return_it() -> None:
    # Backdating a request to before the delivery must not reopen a closed window: the
    # parcel did not count then, so the request is refused as not delivered, and waits
    # only while another parcel of the line may still come.
    for stamped in (datetime(1970, 1, 1, tzinfo=UTC), DELIVERED - timedelta(hours=2)):
        decision = refusal(decide([("BALL", 1)], facts(), at=stamped))
        assert decision.code == ReturnRejectionCode.NOT_DELIVERED
        assert decision.message == "BALL had not been delivered when this request was made"
        assert not decision.may_await_delivery


def test_a_parcel_stamped_delivered_minutes_after_the_request_still_counts() -> None:
    # The storefront's and the warehouse's clocks differ a little.
    decision = decide([("BALL", 2)], facts(), at=DELIVERED - timedelta(minutes=30))
    assert isinstance(decision, ReturnAuthorisation)
    # An hour is the allowance, to the microsecond.
    hour, tick = timedelta(hours=1), timedelta(microseconds=1)
    assert isinstance(decide([("BALL", 2)], facts(), at=DELIVERED - hour), ReturnAuthorisation)
    late = refusal(decide([("BALL", 2)], facts(), at=DELIVERED - hour - tick))
    assert late.code == ReturnRejectionCode.NOT_DELIVERED


def test_a_backdated_request_counts_only_the_parcels_delivered_by_then() -> None:
    later = DELIVERED + timedelta(days=40)
    two_parcels = facts(deliveries=(Delivery("BALL", 1, DELIVERED), Delivery("BALL", 1, later)))
    decision = refusal(decide([("BALL", 2)], two_parcels, at=DELIVERED + timedelta(days=1)))
    assert decision.code == ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    assert "1 returnable (1 delivered" in decision.message


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


# --------------------------------------------- earlier returns attributed to their parcels

LATE = DELIVERED + timedelta(days=20)  # a second parcel: its window is open until 2025-03-25
TWO_PARCELS = (Delivery("BALL", 1, DELIVERED), Delivery("BALL", 1, LATE))
DAY_35 = DELIVERED + timedelta(days=35)  # the first parcel's window closed, the second's open


def after(*returns: EarlierReturn) -> OrderFacts:
    return OrderFacts(True, {"BALL": 2}, TWO_PARCELS, returns, customer_id="cust-1")


def test_one_unit_requests_return_no_more_than_one_request_would() -> None:
    first = EarlierReturn("BALL", 1, DAY_35)  # it could only take the newer parcel's unit
    assert returnable_units(after(first), "BALL", DAY_35, WINDOW) == 0
    second = refusal(decide([("BALL", 1)], after(first), DAY_35))
    assert (second.code, second.message) == (
        ReturnRejectionCode.WINDOW_EXPIRED,
        "BALL: 1 requested, only 0 still inside the 30-day return window",
    )


def test_a_return_made_while_both_windows_were_open_takes_the_older_unit() -> None:
    earlier = EarlierReturn("BALL", 1, DELIVERED + timedelta(days=25))
    assert returnable_units(after(earlier), "BALL", DAY_35, WINDOW) == 1
    assert isinstance(decide([("BALL", 1)], after(earlier), DAY_35), ReturnAuthorisation)


def test_a_return_no_open_window_explains_takes_the_oldest_unit_left() -> None:
    # Requested when no window was open (clock skew): it comes from the oldest parcel, after
    # the returns an open window explains.
    skewed = EarlierReturn("BALL", 1, DELIVERED + timedelta(days=60))
    assert returnable_units(after(skewed), "BALL", DAY_35, WINDOW) == 1
    newer_taken = EarlierReturn("BALL", 1, DAY_35)
    assert returnable_units(after(skewed, newer_taken), "BALL", DAY_35, WINDOW) == 0


def test_earlier_returns_count_in_the_order_they_were_requested() -> None:
    # Listed out of order: the day-25 return takes the older unit, the day-35 one the newer.
    day_25 = EarlierReturn("BALL", 1, DELIVERED + timedelta(days=25))
    day_35 = EarlierReturn("BALL", 1, DAY_35)
    assert returnable_units(after(day_35, day_25), "BALL", DAY_35, WINDOW) == 0
    assert returnable_units(after(day_25), "BALL", DAY_35 + timedelta(days=1), WINDOW) == 1


# ------------------------------------------------------------- RMAs whose parcel never came


def test_an_rma_whose_parcel_never_came_lets_its_units_go_after_return_by_plus_shipping() -> None:
    due = EarlierReturn("BALL", 2, DELIVERED, parcel_due_by=date(2025, 2, 17))
    received = EarlierReturn("BALL", 1, DELIVERED)

    def kept(at: datetime) -> tuple[EarlierReturn, ...]:
        return still_taken_back([due, received], at=at, window=WINDOW, return_shipping_days=14)

    assert kept(datetime(2025, 3, 3, 23, 59, 59, tzinfo=UTC)) == (due, received)  # 17 Feb + 14
    assert kept(datetime(2025, 3, 4, tzinfo=UTC)) == (received,)  # a received one stays


# ------------------------------------------------------------------ precedence and figures


def test_past_both_the_window_and_the_quantity_the_window_comes_first() -> None:
    decision = refusal(decide([("BALL", 3)], facts(deliveries=TWO_PARCELS), DAY_35))
    assert (decision.code, decision.message) == (
        ReturnRejectionCode.WINDOW_EXPIRED,
        "BALL: 3 requested, only 1 still inside the 30-day return window",
    )


def test_units_returned_from_an_open_window_exceed_the_quantity_not_the_window() -> None:
    # Both units inside their window, one already returned: a quantity problem.
    decision = refusal(decide([("BALL", 2)], facts(returned={"BALL": 1})))
    assert (decision.code, decision.message) == (
        ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
        "BALL: 2 requested, 1 returnable (2 delivered, 1 already returned)",
    )


# ------------------------------------------------------- refusals a delivery could still change


def test_a_refusal_awaits_a_delivery_only_while_units_are_still_to_be_delivered() -> None:
    one_of_two = (Delivery("BALL", 1, DELIVERED),)
    short = refusal(decide([("BALL", 2)], facts(deliveries=one_of_two)))
    assert (short.code, short.may_await_delivery) == (
        ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED,
        True,
    )
    late = refusal(decide([("BALL", 1)], facts(deliveries=one_of_two), OUTSIDE))
    assert (late.code, late.may_await_delivery) == (ReturnRejectionCode.WINDOW_EXPIRED, True)
    # Every ordered unit delivered: final at once.
    assert not refusal(decide([("BALL", 3)], facts())).may_await_delivery
    assert not refusal(decide([("BALL", 1)], facts(), OUTSIDE)).may_await_delivery
    # One final line makes the whole request final.
    mixed = refusal(decide([("BALL", 2), ("SOCK", 1)], facts(deliveries=one_of_two)))
    assert not mixed.may_await_delivery
    # Before the order is known, any delivery may still come.
    unplaced = facts(deliveries=one_of_two, placed=False)
    assert refusal(decide([("BALL", 2)], unplaced)).may_await_delivery


def test_a_request_naming_a_customer_waits_for_the_order_to_know_its_customer() -> None:
    before_the_order = facts(placed=False)  # deliveries known, OrderPlaced not yet
    stranger = refusal(decide([("BALL", 1)], before_the_order, customer_id="cust-2"))
    assert (stranger.code, stranger.may_await_delivery) == (
        ReturnRejectionCode.UNKNOWN_ORDER,
        True,
    )
    assert isinstance(decide([("BALL", 1)], before_the_order), ReturnAuthorisation)


def test_units_replaced_under_warranty_are_not_the_customers_to_return() -> None:
    # A unit is refunded or replaced, never both: authorised, its parcel was then stopped.
    one_ball = facts(ordered={"BALL": 1}, deliveries=(Delivery("BALL", 1, DELIVERED),))
    decision = refusal(decide([("BALL", 1)], replace(one_ball, replaced={"BALL": 1})))
    assert decision.code == ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    assert decision.message == (
        "BALL: 1 requested, 0 returnable (1 delivered, 0 already returned, "
        "1 replaced under warranty)"
    )


def test_replaced_units_come_from_the_oldest_parcels() -> None:
    # Two parcels 20 days apart; on day 36 only the second one's window is open.
    second = DELIVERED + timedelta(days=20)
    two_parcels = facts(
        ordered={"BALL": 2},
        deliveries=(Delivery("BALL", 1, DELIVERED), Delivery("BALL", 1, second)),
    )
    day_36 = DELIVERED + timedelta(days=36)
    both_replaced = replace(two_parcels, replaced={"BALL": 2})
    assert refusal(decide([("BALL", 1)], both_replaced, at=day_36)).code == (
        ReturnRejectionCode.QUANTITY_EXCEEDS_DELIVERED
    )
    one_replaced = replace(two_parcels, replaced={"BALL": 1})
    assert isinstance(decide([("BALL", 1)], one_replaced, at=day_36), ReturnAuthorisation)


def answer_once_read(requested: list[tuple[str, int]], facts: OrderFacts, at: datetime) -> str:
    """What the request is answered: a code, or "wait" while a delivery could change it."""
    decision = refusal(decide(requested, facts, at=at))
    return "wait" if decision.may_await_delivery else decision.code.value


def read_in_turn(*deliveries: Delivery) -> list[tuple[Delivery, ...]]:
    """Every prefix of ``deliveries``: the facts as each is read in turn."""
    return [deliveries[:n] for n in range(len(deliveries) + 1)]


def test_a_refusal_for_a_line_no_delivery_can_fix_waits_while_another_could_change_it() -> None:
    # SPLINT's window closed; BALL's parcel, delivered before the request, may not be read
    # yet. Unread, BALL's line would rank first (not_delivered): the answer waits for it, and
    # is SPLINT's once it came.
    ordered = {"BALL": 1, "SPLINT": 1}
    splint = Delivery("SPLINT", 1, DELIVERED)
    ball = Delivery("BALL", 1, OUTSIDE - timedelta(hours=2))
    request = [("BALL", 1), ("SPLINT", 1)]

    answers = [
        answer_once_read(request, facts(ordered=ordered, deliveries=read), OUTSIDE)
        for read in ((splint,), (splint, ball))
    ]

    assert answers == ["wait", "window_expired"]
    final = refusal(decide(request, facts(ordered=ordered, deliveries=(splint, ball)), at=OUTSIDE))
    assert final.message.startswith("SPLINT: the 30-day return window closed (last day 2025-03-05)")


@pytest.mark.parametrize("late_parcel_read", [False, True])
def test_a_refusal_code_is_the_same_whatever_was_read_first(late_parcel_read: bool) -> None:
    # BALL came after the request (plainly not_delivered once read: it ranks first); GEL's
    # second parcel, inside the window, decides whether GEL's line can still change. Read in
    # any order, an answer given is not_delivered; before that, the request waits.
    ordered = {"BALL": 1, "GEL": 2}
    gel_old = Delivery("GEL", 1, DELIVERED)
    gel_new = Delivery("GEL", 1, OUTSIDE - timedelta(days=2))
    ball = Delivery("BALL", 1, OUTSIDE + timedelta(days=1))
    request = [("GEL", 2), ("BALL", 1)]
    order = (gel_old, ball, gel_new) if late_parcel_read else (gel_old, gel_new, ball)

    answers = {
        answer_once_read(request, facts(ordered=ordered, deliveries=read), OUTSIDE)
        for read in read_in_turn(*order)
    }

    assert answers <= {"wait", "not_delivered"}
    assert answer_once_read(request, facts(ordered=ordered, deliveries=order), OUTSIDE) == (
        "not_delivered"
    )


def test_a_refusal_whose_code_nothing_can_beat_is_given_at_once() -> None:
    # SOCK is not in the order: no delivery of BALL's second unit can change that answer.
    one_of_two = (Delivery("BALL", 1, DELIVERED),)
    decision = refusal(decide([("BALL", 2), ("SOCK", 1)], facts(deliveries=one_of_two)))
    assert (decision.code, decision.may_await_delivery) == (ReturnRejectionCode.UNKNOWN_SKU, False)
