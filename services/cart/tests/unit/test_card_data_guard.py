"""Card numbers typed into a checkout never get past the consumer."""

from __future__ import annotations

import json

import pytest
from orderflow_chassis.card_data_guard import screen_payload as refuse_card_data
from orderflow_chassis.errors import PermanentError
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CheckoutRequested

PAN = "4111 1111 1111 1111"


def checkout_bytes(line1: str, cart_id: str = "cart-1") -> bytes:
    event = CheckoutRequested.model_validate(
        {
            "cart_id": cart_id,
            "customer_id": "cust-1",
            "email": "ada@example.com",
            "shipping_address": {"line1": line1, "country": "DE"},
            "payment": {"method": "visa", "provider_token": "tok_1"},
        }
    )
    return Envelope.wrap(event, producer="storefront", correlation_id="j-1").to_bytes()


def test_a_card_number_in_an_address_is_refused_and_redacted() -> None:
    with pytest.raises(PermanentError) as raised:
        refuse_card_data(checkout_bytes(f"pay with {PAN}"))
    assert raised.value.code == "card_data_refused"
    assert raised.value.redacted_payload is not None
    kept = json.loads(raised.value.redacted_payload)
    assert kept["data"]["shipping_address"]["line1"] == "pay with [REDACTED-PAN]"
    assert "1111" not in raised.value.redacted_payload.decode()


def test_a_card_number_in_bytes_that_are_not_json_is_redacted_too() -> None:
    with pytest.raises(PermanentError) as raised:
        refuse_card_data(b'{"broken": "4111111111111111')
    assert raised.value.redacted_payload == b'{"broken": "[REDACTED-PAN]'


def test_ordinary_records_and_long_numeric_ids_pass() -> None:
    refuse_card_data(checkout_bytes("12 Example Street"))
    refuse_card_data(checkout_bytes("12 Example Street", cart_id="cart-6940787722504b46"))
    refuse_card_data(checkout_bytes("12 Example Street", cart_id="1234567890123452"))  # no brand
    refuse_card_data(b"not json at all")


def test_a_cart_id_that_is_a_card_number_is_refused() -> None:
    with pytest.raises(PermanentError) as raised:
        refuse_card_data(checkout_bytes("12 Example Street", cart_id="4111111111111111"))
    assert raised.value.code == "card_data_refused"
