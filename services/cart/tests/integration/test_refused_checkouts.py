"""A checkout refused before it reaches the cart (it breaks the contract, or holds card data)
is dead-lettered with its cause and answered all the same: the storefront waiting on it hears
why. Before, such a checkout (an e-mail like ``ada@localhost``, say) was never answered."""

from __future__ import annotations

import json

import pytest
from orderflow_chassis.dead_letters import failure_details
from orderflow_contracts import topics

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.storefront import (
    add,
    checkout,
    envelopes_of,
    new_cart_id,
    read_all,
    wait_for_envelopes,
)
from tests.support.kafka_tools import eventually, publish_raw
from tests.support.service_harness import caught_up

pytestmark = pytest.mark.integration

CARD = "4111111111111111"


async def test_a_refused_checkout_is_answered_with_the_cause_and_no_card_data(
    cart_service: RunningCart,
) -> None:
    bad_email, card_token = new_cart_id("email"), new_cart_id("token")
    shop = cart_service.storefront
    email_checkout = json.loads(shop.envelope(checkout(bad_email)).to_bytes())
    email_checkout["data"]["email"] = "ada@localhost"
    token_checkout = json.loads(shop.envelope(checkout(card_token)).to_bytes())
    token_checkout["data"]["payment"]["provider_token"] = f"tok_{CARD}"
    topic = cart_service.prefix + topics.STOREFRONT_CARTS
    await publish_raw(
        cart_service.infrastructure.kafka_bootstrap_servers,
        topic,
        [
            (bad_email.encode(), json.dumps(email_checkout).encode()),
            (card_token.encode(), json.dumps(token_checkout).encode()),
        ],
    )

    for cart_id, sent, code in (
        (bad_email, email_checkout, "invalid_event_data"),
        (card_token, token_checkout, "card_data_refused"),
    ):
        [answer] = await wait_for_envelopes(
            cart_service.infrastructure,
            cart_service.prefix,
            topics.CARTS,
            cart_id,
            count=1,
            event_types=["CheckoutRejected"],
        )
        [reason] = answer.data["reasons"]
        assert reason["code"] == "invalid_request"
        assert f"({code})" in reason["message"]
        assert answer.causation_id == sent["event_id"]
        assert answer.correlation_id == sent["correlation_id"]
        assert "4111" not in answer.to_bytes().decode()
    [email_answer] = await envelopes_of(
        cart_service.infrastructure, cart_service.prefix, topics.CARTS, bad_email
    )
    assert "email" in email_answer.data["reasons"][0]["message"]

    async def letters() -> list[str]:
        found = await read_all(cart_service.infrastructure.kafka_bootstrap_servers, f"{topic}.dlq")
        mine = (bad_email.encode(), card_token.encode())
        return [failure_details(f.headers)["error_code"] for f in found if f.key in mine]

    dead: list[str] = await eventually(letters, lambda found: len(found) == 2)
    assert sorted(dead) == [
        "card_data_refused",
        "invalid_event_data",
    ]


async def test_a_refused_record_that_is_no_checkout_or_names_no_cart_is_not_answered(
    cart_service: RunningCart,
) -> None:
    started = await cart_service.runtime.pool.fetchval("SELECT now()")
    shop = cart_service.storefront
    zero = new_cart_id("zero")
    zero_quantity = json.loads(shop.envelope(add(zero, "HC-SIL-PAIR")).to_bytes())
    zero_quantity["data"]["quantity"] = 0
    carded = json.loads(shop.envelope(checkout(new_cart_id("key"))).to_bytes())
    carded["data"]["cart_id"] = carded["aggregate_id"] = CARD
    topic = cart_service.prefix + topics.STOREFRONT_CARTS
    await publish_raw(
        cart_service.infrastructure.kafka_bootstrap_servers,
        topic,
        [
            (zero.encode(), json.dumps(zero_quantity).encode()),
            (CARD.encode(), json.dumps(carded).encode()),
        ],
    )
    await caught_up(cart_service.runtime)

    # Applied, so in the outbox now if anything answered them (the topic may lag the relay).
    written = await cart_service.runtime.pool.fetch(
        "SELECT message_key, payload FROM outbox "
        "WHERE event_type = 'CheckoutRejected' AND created_at >= $1",
        started,
    )
    assert [row for row in written if row["message_key"] == zero] == []
    assert all(CARD.encode() not in bytes(row["payload"]) for row in written)
    assert all(CARD not in row["message_key"] for row in written)
    assert (
        await envelopes_of(cart_service.infrastructure, cart_service.prefix, topics.CARTS, zero)
        == []
    )
    answers = await read_all(
        cart_service.infrastructure.kafka_bootstrap_servers, cart_service.prefix + topics.CARTS
    )
    assert all(CARD.encode() not in (a.key or b"") + a.value for a in answers)


async def test_a_checkout_under_a_header_copied_from_another_record_is_answered(
    cart_service: RunningCart,
) -> None:
    # Review (helpers 114, 115): a storefront whose client copied headers from a record it
    # consumed (an OrderPlaced) sent a valid checkout under that event_type header; the cart
    # passed it over unread, as another service's event, and never answered it.
    cart_id = new_cart_id("copied-header")
    shop = cart_service.storefront
    records = [shop.envelope(add(cart_id, "SKU-001")), shop.envelope(checkout(cart_id))]
    topic = cart_service.prefix + topics.STOREFRONT_CARTS
    for envelope in records:
        await publish_raw(
            cart_service.infrastructure.kafka_bootstrap_servers,
            topic,
            [(cart_id.encode(), envelope.to_bytes())],
            headers=[("event_type", b"OrderPlaced")],
        )

    answers = await wait_for_envelopes(
        cart_service.infrastructure,
        cart_service.prefix,
        topics.CARTS,
        cart_id,
        count=1,
        event_types=["CartCheckedOut", "CheckoutRejected"],
    )
    assert len(answers) == 1, "the checkout was passed over unread"
    assert answers[0].causation_id == str(records[1].event_id)


async def test_a_refused_checkout_sent_twice_is_answered_once(cart_service: RunningCart) -> None:
    # A producer's retry publishes the same record again: a valid checkout is applied once
    # (the inbox), but a refused one never reached the inbox and was answered twice.
    started = await cart_service.runtime.pool.fetchval("SELECT now()")
    cart_id = new_cart_id("twice")
    refused = json.loads(cart_service.storefront.envelope(checkout(cart_id)).to_bytes())
    refused["data"]["email"] = "ada@localhost"
    value = json.dumps(refused).encode()
    topic = cart_service.prefix + topics.STOREFRONT_CARTS
    kafka = cart_service.infrastructure.kafka_bootstrap_servers
    await publish_raw(kafka, topic, [(cart_id.encode(), value)])
    await publish_raw(kafka, topic, [(cart_id.encode(), value)])
    await caught_up(cart_service.runtime)

    written = await cart_service.runtime.pool.fetch(
        "SELECT message_key FROM outbox "
        "WHERE event_type = 'CheckoutRejected' AND created_at >= $1 AND message_key = $2",
        started,
        cart_id,
    )
    assert len(written) == 1

    async def letters() -> int:
        found = await read_all(kafka, f"{topic}.dlq")
        return len([letter for letter in found if letter.key == cart_id.encode()])

    assert await eventually(letters, lambda count: count == 2) == 2, "each copy dead-lettered"
