"""The order timeline, built from a synthetic event log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import ORDER_ID, RMA_ID, SHIPMENT_ID
from orderflow_ops.event_log import LoggedEvent
from orderflow_ops.timeline import build_timeline, related_ids, render_text

MakeLogged = Callable[..., tuple[LoggedEvent, Envelope]]  # the conftest fixture

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_an_order_is_followed_through_its_shipments_and_rmas_in_time_order(
    make_logged: MakeLogged,
) -> None:
    placed, placed_env = make_logged("OrderPlaced", 0)
    requested, requested_env = make_logged("FulfillmentRequested", 2, caused_by=placed_env)
    # Keyed by shipment id only: found through FulfillmentRequested.
    dispatched, _ = make_logged("ParcelDispatched", 5, caused_by=requested_env)
    returned, _ = make_logged("ReturnParcelReceived", 9)
    authorized, _ = make_logged("ReturnAuthorized", 7)
    other_order, _ = make_logged(
        "OrderPlaced", 1, order_id="0b6f1d2e-3a4b-4d7e-9a52-5f0c6a8e3c1b", cart_id="cart-other"
    )
    log = [returned, dispatched, other_order, authorized, requested, placed]

    entries = build_timeline(ORDER_ID, log)

    assert [e.event_type for e in entries] == [
        "OrderPlaced",
        "FulfillmentRequested",
        "ParcelDispatched",
        "ReturnAuthorized",
        "ReturnParcelReceived",
    ]
    assert entries[1].caused_by == 1
    assert entries[2].caused_by == 2
    assert {SHIPMENT_ID, RMA_ID} <= related_ids(ORDER_ID, log)
    assert "FulfillmentRequested" in render_text(ORDER_ID, entries)


def test_dead_letters_of_the_order_are_shown_with_their_reason(make_logged: MakeLogged) -> None:
    placed, _ = make_logged("OrderPlaced", 0)
    refused = LoggedEvent(
        topic="payments.dlq",
        partition=0,
        offset=0,
        timestamp_ms=int((START + timedelta(minutes=3)).timestamp() * 1000),
        envelope=None,
        raw={"event_type": "PaymentCaptured", "data": {"order_id": ORDER_ID, "amount": 3}},
        dead_letter={"error_code": "invalid_event_data", "reason": "amount: not a string"},
    )

    entries = build_timeline(ORDER_ID, [placed, refused])

    assert entries[-1].event_type == "DeadLetter(PaymentCaptured)"
    assert "invalid_event_data" in entries[-1].summary


def test_an_unknown_order_has_an_empty_timeline(make_logged: MakeLogged) -> None:
    placed, _ = make_logged("OrderPlaced", 0)
    assert build_timeline("00000000-0000-4000-8000-000000000000", [placed]) == []


def test_link_ids_are_collected_in_the_order_and_number_a_full_walk_finds_them() -> None:
    # collect_link_ids stacks only mappings and lists; the walk it replaced stacked every
    # value. Both must yield the same ids, in the same order, at any depth.
    import random
    from collections.abc import Iterable, Mapping
    from typing import Any

    from orderflow_ops.timeline import LINK_FIELDS, PER_ORDER_FIELDS, collect_link_ids

    def full_walk(value: Any) -> Iterable[str]:
        pending = [value]
        while pending:
            current = pending.pop()
            if isinstance(current, Mapping):
                for key, item in current.items():
                    if key in PER_ORDER_FIELDS and isinstance(item, str):
                        if isinstance(current.get("order_id"), str):
                            yield f"{current['order_id']}:{item}"
                    elif key in LINK_FIELDS and isinstance(item, str):
                        yield item
                    else:
                        pending.append(item)
            elif isinstance(current, list):
                pending.extend(current)

    rng = random.Random(9)
    keys = [*LINK_FIELDS, "sku", "lines", "amount"]

    def value(depth: int) -> Any:
        kind = rng.random()
        if depth > 4 or kind < 0.4:
            return rng.choice(["id-1", "id-2", 3, 4.5, True, None, ("t", "id-3")])
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 4))}

    found = 0
    for _ in range(5_000):
        document = value(0)
        expected = list(full_walk(document))
        found += len(expected)
        assert list(collect_link_ids(document)) == expected, document
    assert found > 1_000, "the documents must hold link ids often to prove anything"


def test_a_link_field_that_is_no_id_links_nothing() -> None:
    # A link field nested in an unknown part of a record is not validated: a NUL or a 3 KB
    # "id" reached the console's event_links (text, in the primary key) and failed the batch.
    from orderflow_ops.timeline import collect_link_ids

    data = {
        "order_id": ORDER_ID,
        "extra": {"shipment_id": "a\x00b", "rma_id": "r" * 3000, "nested": [{"cart_id": "c-1"}]},
    }
    assert set(collect_link_ids(data)) == {ORDER_ID, "c-1"}


def test_a_request_or_claim_id_links_only_within_its_order() -> None:
    # Review (helper 109): the storefront's request and claim ids are unique per order only;
    # linked bare, every order whose storefront used "ret-1" joined one order's timeline.
    from orderflow_ops.timeline import collect_link_ids

    first = {"order_id": "order-1", "return_request_id": "ret-1", "claim_id": "claim-1"}
    second = {"order_id": "order-2", "return_request_id": "ret-1"}
    assert set(collect_link_ids(first)) == {"order-1", "order-1:ret-1", "order-1:claim-1"}
    assert set(collect_link_ids(second)) == {"order-2", "order-2:ret-1"}
    assert set(collect_link_ids({"return_request_id": "ret-1"})) == set(), "no order: no link"
