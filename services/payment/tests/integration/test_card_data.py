"""Card data never enters: a message with anything like a card number goes to the dead-letter
topic with the digits redacted, and the partition moves on."""

from __future__ import annotations

import json

import pytest
from orderflow_chassis.dead_letters import failure_details
from orderflow_contracts import topics
from orderflow_localinfra.discovery import Infrastructure

from services.payment.tests.builders import envelope, order_placed, refund_requested
from services.payment.tests.harness import payment_service
from tests.support.kafka_tools import publish_raw, read_topic

pytestmark = pytest.mark.integration

PAN = "4111111111111111"
GROUPED_PAN = "5500 0000 0000 0004"


async def test_messages_carrying_a_card_number_are_dead_lettered_redacted(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka = orderflow_infrastructure.kafka_bootstrap_servers
    async with payment_service(orderflow_infrastructure) as run:
        order = order_placed()
        key = str(order.order_id).encode()
        # A card number in a free-text field of an otherwise valid OrderPlaced...
        in_address = json.loads(envelope(order).to_bytes())
        in_address["data"]["ship_to"]["line2"] = f"card {GROUPED_PAN} please"
        # ...as the provider token (the contract would refuse it too, but the guard runs first
        # so that its digits never reach a dead letter)...
        in_token = json.loads(envelope(order).to_bytes())
        in_token["data"]["payment"]["provider_token"] = f"tok_{PAN}"
        # ...hidden behind JSON escapes, in a field no contract knows, of a refund request.
        refund = json.loads(envelope(refund_requested(order.order_id, "1.00")).to_bytes())
        refund["data"]["note"] = "".join(f"\\u{ord(c):04x}" for c in PAN)
        escaped = json.dumps(refund).replace("\\\\u", "\\u").encode()
        assert PAN.encode() not in escaped
        await publish_raw(
            kafka,
            run.prefix + topics.ORDERS,
            [(key, json.dumps(in_address).encode()), (key, json.dumps(in_token).encode())],
            headers=[("origin", b"test")],
        )
        await publish_raw(kafka, run.prefix + topics.RETURNS, [(key, escaped)])
        clean = envelope(order)  # the same order, clean: applied after the refused ones
        await run.publish(clean)
        assert await run.wait_for_status(order.order_id, "authorised") == "authorised"
        orders_dlq = await read_topic(kafka, run.prefix + "orders.dlq", expect=2)
        returns_dlq = await read_topic(kafka, run.prefix + "returns.dlq", expect=1)

    letters = orders_dlq + returns_dlq
    assert len(letters) == 3
    for letter in letters:
        details = failure_details(letter.headers)
        assert details["error_code"] == "card_data_refused"
        assert details["service"] == "payment"
        everything = letter.value + b"".join(v for _, v in letter.headers) + (letter.key or b"")
        for digits in (PAN, GROUPED_PAN, GROUPED_PAN.replace(" ", "")):
            assert digits.encode() not in everything
        assert b"\\u0034\\u0031" not in letter.value
        assert b"[REDACTED-PAN]" in letter.value
        assert letter.key == key
    assert ("origin", b"test") in orders_dlq[0].headers
    assert json.loads(orders_dlq[0].value)["data"]["ship_to"]["line2"] == (
        "card [REDACTED-PAN] please"
    )
    assert json.loads(orders_dlq[1].value)["data"]["payment"]["provider_token"] == (
        "tok_[REDACTED-PAN]"
    )
    assert json.loads(returns_dlq[0].value)["data"]["note"] == "[REDACTED-PAN]"
