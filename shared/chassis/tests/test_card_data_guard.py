import json
import uuid

import pytest
from orderflow_chassis.card_data_guard import CardDataGuard
from orderflow_chassis.errors import PermanentError
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_event

guard = CardDataGuard()


def test_an_id_that_happens_to_hold_a_luhn_valid_run_of_digits_is_not_card_data() -> None:
    # Regression: this cart id got a real order dead-lettered by payment (chaos test).
    event = example_event("OrderPlaced")
    order = type(event).model_validate(
        {**event.model_dump(mode="json"), "cart_id": "cart-6940787722504b46"}
    )
    raw = Envelope.wrap(order, producer="cart", correlation_id="j").to_bytes()
    guard(raw)


def test_a_card_number_in_a_free_text_field_is_refused_and_redacted() -> None:
    raw = json.dumps(
        {"event_id": str(uuid.uuid4()), "data": {"ship_to": {"line2": "card 4111 1111 1111 1111"}}}
    ).encode()
    with pytest.raises(PermanentError) as refused:
        guard(raw)
    assert refused.value.code == "card_data_refused"
    assert refused.value.redacted_payload is not None
    assert b"4111" not in refused.value.redacted_payload
