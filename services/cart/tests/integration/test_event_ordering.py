"""At-least-once, reordered cart events give the cart the storefront meant; malformed ones go
to the dead-letter topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from orderflow_chassis.dead_letters import failure_details
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.storefront import (
    ADDRESS,
    add,
    checkout,
    currency,
    new_cart_id,
    read_all,
    remove,
    set_quantity,
    wait_for_envelopes,
)
from tests.support.kafka_tools import eventually, publish_raw
from tests.support.service_harness import caught_up

pytestmark = pytest.mark.integration


def journey(cart_id: str) -> list[Event]:
    return [
        currency(cart_id, "GBP"),
        add(cart_id, "INS-GEL-M", 2),
        add(cart_id, "MB-PEANUT"),
        set_quantity(cart_id, "INS-GEL-M", 1),
        remove(cart_id, "MB-PEANUT"),
        add(cart_id, "CS-ANKLE-S", 3),
    ]


def republished(envelope: Envelope) -> Envelope:
    """The same step published again under a new event id (a storefront retry)."""
    return Envelope.wrap(
        envelope.parse_event(),
        producer=envelope.producer,
        correlation_id=envelope.correlation_id,
        sequence=envelope.sequence,
    )


def without_id(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in ("cart_id", "last_activity_at")}


async def test_duplicated_and_reordered_events_give_the_same_cart(
    cart_service: RunningCart,
) -> None:
    storefront = cart_service.storefront
    in_order_id, shuffled_id = new_cart_id("ordered"), new_cart_id("shuffled")
    await storefront.send(*journey(in_order_id))
    e1, e2, e3, e4, e5, e6 = (storefront.envelope(event) for event in journey(shuffled_id))
    await storefront.publish(e3, e1, e5, republished(e5), e3, e2, e6, e4, republished(e2))

    def settled(view: dict[str, Any]) -> bool:
        # The journey's last step applied: two lines after step four already, but not these.
        skus = {line["sku"] for line in view["lines"]}
        return view["events_waiting"] == 0 and skus == {"INS-GEL-M", "CS-ANKLE-S"}

    ordered = await cart_service.cart_when(in_order_id, settled)
    shuffled = await cart_service.cart_when(shuffled_id, settled)
    assert without_id(shuffled) == without_id(ordered)
    # 19.90 x 0.7890 = 15.7011 -> 15.70; 11.25 x 0.7890 = 8.87625 -> 8.88 (x3 = 26.64)
    assert [(x["sku"], x["quantity"], x["line_total"]["amount"]) for x in shuffled["lines"]] == [
        ("INS-GEL-M", 1, "15.70"),
        ("CS-ANKLE-S", 3, "26.64"),
    ]
    assert shuffled["subtotal"] == {"amount": "42.34", "currency": "GBP"}
    assert shuffled["subtotal_usd"] == {"amount": "53.66", "currency": "USD"}  # 42.34 / 0.789
    assert shuffled["shipping_fee"] == {"amount": "0.00", "currency": "GBP"}

    # The cart settles before the last copy of e2 (published after e4) is read: wait for it.
    await caught_up(cart_service.runtime)
    report = (await cart_service.http.get(f"/carts/{shuffled_id}/unapplied-events")).json()
    assert [(r["sequence"], r["reason"]) for r in report["unapplied"]] == [
        (5, "duplicate_sequence"),  # arrived while the first 5 was waiting for 2 and 4
        (2, "stale_sequence"),  # arrived after 2 was applied
    ]
    assert report["skipped_sequences"] == []


async def test_malformed_cart_events_go_to_the_dead_letter_topic(
    cart_service: RunningCart,
) -> None:
    cart_id = new_cart_id("poison")
    key = cart_id.encode()
    valid = cart_service.storefront.envelope(add(cart_id, "HC-SIL-PAIR", 2))
    zero_quantity = json.loads(valid.to_bytes())
    zero_quantity["data"]["quantity"] = 0
    bad_sku = json.loads(valid.to_bytes())
    bad_sku["data"]["sku"] = "lower-case sku"
    unknown_type = json.loads(valid.to_bytes())
    unknown_type["event_type"] = "CartTeleported"
    card_typed = cart_service.storefront.envelope(
        checkout(cart_id, address={**ADDRESS, "line2": "card 4111 1111 1111 1111"})
    )
    topic = cart_service.prefix + "storefront.carts"
    await publish_raw(
        cart_service.infrastructure.kafka_bootstrap_servers,
        topic,
        [
            (key, b'{"event_id": "not closed'),
            (key, json.dumps(zero_quantity).encode()),
            (key, json.dumps(bad_sku).encode()),
            (key, json.dumps(unknown_type).encode()),
            (key, card_typed.to_bytes()),
            (key, valid.to_bytes()),
        ],
    )

    async def letters() -> list[Any]:
        found = await read_all(cart_service.infrastructure.kafka_bootstrap_servers, f"{topic}.dlq")
        return [letter for letter in found if letter.key == key]

    dead = await eventually(letters, lambda found: len(found) == 4)
    details = [failure_details(letter.headers) for letter in dead]
    # An unknown event type is a newer producer's event (the contract's forward compatibility):
    # skipped, not dead-lettered.
    assert [d["error_code"] for d in details] == [
        "malformed_json",
        "invalid_event_data",
        "invalid_event_data",
        "card_data_refused",
    ]
    assert "quantity" in details[1]["reason"]
    assert "sku" in details[2]["reason"]
    assert {d["service"] for d in details} == {"cart"}
    assert dead[0].value == b'{"event_id": "not closed'
    refused = json.loads(dead[3].value)
    assert refused["data"]["shipping_address"]["line2"] == "card [REDACTED-PAN]"
    assert b"1111" not in dead[3].value
    # The partition moved on: the valid event behind them was applied.
    view = await cart_service.cart_when(cart_id, lambda v: bool(v["lines"]))
    assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [("HC-SIL-PAIR", 2)]


@pytest.mark.parametrize("unstorable", ["a\u0000b", "x\ud800y"], ids=["NUL", "lone surrogate"])
async def test_an_early_event_with_an_unknown_field_no_database_stores_is_buffered(
    cart_service: RunningCart, unstorable: str
) -> None:
    # Review (helper 125): the contract ignores unknown fields in data, but the buffer stored
    # the envelope as it came, and PostgreSQL's jsonb refuses a NUL or a lone surrogate: the
    # event was dead-lettered only when it came before its turn.
    storefront = cart_service.storefront
    cart_id = new_cart_id("unknown-field")
    first = storefront.envelope(currency(cart_id, "GBP"))
    second = storefront.envelope(add(cart_id, "INS-GEL-M", 2))
    early = json.loads(second.model_dump_json())
    early["data"]["gift_note"] = unstorable
    await publish_raw(
        cart_service.infrastructure.kafka_bootstrap_servers,
        cart_service.prefix + "storefront.carts",
        [(cart_id.encode(), json.dumps(early).encode())],
    )
    await storefront.publish(first)

    view = await cart_service.cart_when(
        cart_id, lambda view: view["events_waiting"] == 0 and bool(view["lines"])
    )
    assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [("INS-GEL-M", 2)]
    assert view["currency"] == "GBP"


async def test_a_buffered_event_that_cannot_be_applied_is_set_aside_not_its_releaser(
    cart_service: RunningCart,
) -> None:
    # A buffered event whose application failed (here: stored by a version whose envelope
    # this one cannot read back) failed the handler of the event that released it, which
    # was dead-lettered after its attempts: the valid edit was lost and the cart stuck.
    storefront = cart_service.storefront
    cart_id = new_cart_id("set-aside")
    first, second, third = (
        storefront.envelope(event)
        for event in (add(cart_id, "INS-GEL-M", 2), checkout(cart_id), add(cart_id, "MB-PEANUT"))
    )
    await storefront.publish(second, third)
    await cart_service.cart_when(cart_id, lambda view: view["events_waiting"] == 2)
    await cart_service.runtime.pool.execute(
        'UPDATE cart.pending_cart_events SET envelope = \'{"from": "another version"}\' '
        "WHERE cart_id = $1 AND sequence = 2",
        cart_id,
    )
    await storefront.publish(first)

    view = await cart_service.cart_when(cart_id, lambda view: view["events_waiting"] == 0)
    assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [
        ("INS-GEL-M", 2),
        ("MB-PEANUT", 1),
    ]
    assert view["status"] == "open"
    [answer] = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.CARTS,
        cart_id,
        count=1,
        event_types=["CheckoutRejected"],
    )
    assert [reason["code"] for reason in answer.data["reasons"]] == ["checkout_failed"]
    assert answer.causation_id == str(second.event_id), "the storefront matches answers by it"
    report = (await cart_service.http.get(f"/carts/{cart_id}/unapplied-events")).json()
    [set_aside] = report["unapplied"]
    assert (set_aside["sequence"], set_aside["reason"]) == (2, "apply_failed")
    assert set_aside["event_id"] == str(second.event_id)
    assert "ValidationError" in set_aside["detail"]
    letters = await read_all(
        cart_service.infrastructure.kafka_bootstrap_servers,
        cart_service.prefix + "storefront.carts.dlq",
    )
    assert not [letter for letter in letters if letter.key == cart_id.encode()]
