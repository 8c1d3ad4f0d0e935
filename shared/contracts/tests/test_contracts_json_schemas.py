"""The exported JSON Schemas agree with the models: a non-Python integrator (a warehouse system)
validating against them accepts what the models accept and refuses the classic mistakes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from orderflow_contracts import EVENT_TYPES, Envelope
from orderflow_contracts.errors import ContractError
from orderflow_contracts.examples import example_event, example_types
from orderflow_contracts.primitives import REASON_CODE_PATTERN
from orderflow_contracts.schemas import all_event_schemas

jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = all_event_schemas()


def validator(event_type: str) -> Any:
    schema = SCHEMAS[event_type]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def example_message(event_type: str) -> dict[str, Any]:
    envelope = Envelope.wrap(
        example_event(event_type),
        producer="storefront",
        correlation_id="journey-1",
        sequence=3,
        occurred_at=datetime(2025, 1, 31, 12, tzinfo=UTC),
    )
    message: dict[str, Any] = json.loads(envelope.to_bytes())
    return message


@pytest.mark.parametrize("event_type", example_types())
def test_every_example_message_validates_against_its_schema(event_type: str) -> None:
    errors = list(validator(event_type).iter_errors(example_message(event_type)))
    assert not errors, [error.message for error in errors]


def test_the_schema_refuses_the_classic_mistakes() -> None:
    check = validator("OrderPlaced")
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda m: m["data"]["total"].update(amount=55.44),
        lambda m: m["data"]["lines"][0].update(quantity="2"),
        lambda m: m["data"]["lines"][0].update(quantity=0),
        lambda m: m["data"]["ship_to"].update(country="de"),
        lambda m: m["data"]["payment"].update(method="amex"),
        lambda m: m.update(event_type="OrderCancelled"),
        lambda m: m.update(schema_version=2),
        lambda m: m["data"].pop("fx"),
    ]
    for mutate in mutations:
        message = example_message("OrderPlaced")
        mutate(message)
        assert not check.is_valid(message)


def test_unknown_fields_are_allowed_by_the_schemas_too() -> None:
    message = example_message("OrderPlaced")
    message["trace_id"] = "abc"
    message["data"]["gift_message"] = "Happy feet!"
    assert validator("OrderPlaced").is_valid(message)
    assert set(SCHEMAS) == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("event_type", "where", "amount", "valid"),
    [
        ("RefundIssued", "amount", "0.01", True),
        ("RefundIssued", "amount", "0.00", False),  # a refund is of something
        ("RefundIssued", "amount", "-5.00", False),
        ("OrderPlaced", "shipping_fee", "0.00", True),  # free shipping
        ("OrderPlaced", "shipping_fee", "-4.90", False),
        ("CartAbandoned", "subtotal", "0.00", True),
        ("CartAbandoned", "subtotal", "-0.00", True),  # zero, however it is signed
        ("CartAbandoned", "subtotal", "-0.01", False),
    ],
)
def test_the_schema_states_the_sign_rules_the_models_enforce(
    event_type: str, where: str, amount: str, valid: bool
) -> None:
    # A schema-valid amount is one the consumer applies; anything else is a dead letter.
    message = example_message(event_type)
    message["data"][where]["amount"] = amount

    schema_errors = list(validator(event_type).iter_errors(message))
    model_accepts = True
    try:
        Envelope.model_validate(message).parse_event()
    except ContractError:
        model_accepts = False

    assert (not schema_errors, model_accepts) == (valid, valid)


def _reason_code_fields(event_type: str) -> dict[str, dict[str, Any]]:
    schema = SCHEMAS[event_type]
    fields = schema["$defs"][event_type]["properties"]
    return {
        name: field
        for name, field in fields.items()
        if field.get("pattern") == REASON_CODE_PATTERN and name != "sku"
    }


@pytest.mark.parametrize("event_type", [t for t in example_types() if _reason_code_fields(t)])
def test_every_reason_code_field_lists_its_known_codes_in_the_schema(event_type: str) -> None:
    # A client reading only the schemas saw "insufficient_funds" as the example of every
    # reason, refusals of returns and warranty claims included.
    for name, field in _reason_code_fields(event_type).items():
        assert field["description"].startswith("Known codes (an open list): `"), name
        listed = set(re.findall(r"`([a-z0-9_]+)`", field["description"]))
        assert listed == set(field["examples"]), name


def test_the_checkout_refusals_list_their_known_codes() -> None:
    reasons = SCHEMAS["CheckoutRejected"]["$defs"]["CheckoutRejected"]["properties"]["reasons"]
    assert "`unsupported_currency`" in reasons["description"]
    assert "`stale_sequence`" in reasons["description"]
    assert "`already_checked_out`" not in reasons["description"]  # never a rejection
    code = SCHEMAS["CheckoutRejected"]["$defs"]["RejectionReason"]["properties"]["code"]
    assert code["examples"] == ["unknown_sku"]  # it was a payment's decline code
