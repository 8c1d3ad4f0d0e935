"""Events: the registry, keys, strict types, tolerance of unknown fields, no card data."""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from orderflow_contracts import (
    ALL_EVENTS,
    ALL_TOPICS,
    EVENT_TYPES,
    EVENTS_BY_TOPIC,
    Envelope,
    contains_card_number,
    dead_letter_topic,
    event_class,
)
from orderflow_contracts.events import (
    CartCurrencySelected,
    CheckoutRequested,
    OrderPlaced,
    RefundRequested,
)
from orderflow_contracts.examples import example_data, example_types
from orderflow_contracts.schemas import all_event_schemas
from orderflow_contracts.topics import TOPIC_SPECS
from pydantic import BaseModel, ValidationError

# The key column of the contract README's topic table.
KEY_FIELDS_BY_TOPIC = {
    "storefront.carts": {"cart_id"},
    "carts": {"cart_id"},
    "orders": {"order_id"},
    "payments": {"order_id"},
    "fulfillment": {"order_id"},
    "warehouse.events": {"shipment_id", "rma_id", "warehouse_id"},
    "storefront.returns": {"order_id"},
    "returns": {"order_id"},
}

# The event names of the contract README's topic table (names are the contract).
CONTRACT_EVENTS = {
    "storefront.carts": {"CartItemAdded", "CartItemRemoved", "CartItemQuantityChanged",
                         "CartCurrencySelected", "CheckoutRequested"},
    "carts": {"CheckoutRejected", "CartCheckedOut"},
    "orders": {"OrderPlaced", "OrderCancelled", "OrderCompleted"},
    "payments": {"PaymentAuthorized", "PaymentDeclined", "PaymentCaptured", "PaymentVoided",
                 "RefundIssued", "RefundFailed"},
    "fulfillment": {"StockReserved", "StockUnavailable", "FulfillmentRequested",
                    "ShipmentDispatched", "ShipmentDelivered"},
    "warehouse.events": {"ParcelDispatched", "ParcelDelivered", "ReturnParcelReceived",
                         "StockCounted"},
    "storefront.returns": {"ReturnRequested", "WarrantyClaimFiled"},
    "returns": {"ReturnAuthorized", "ReturnRejected", "RefundRequested",
                "WarrantyClaimAccepted", "WarrantyClaimRejected"},
}  # fmt: skip
# Deliberate deviation (see README): returns publishes it, so it lives on returns' topic.
CONTRACT_EVENTS["returns"].add("ReplacementRequested")
# Added later (see README): a received parcel that gets no refund is said, not silent.
CONTRACT_EVENTS["returns"].add("ReturnRefundStopped")


# ------------------------------------------------------------------------------- registry


def test_topics_and_dead_letter_topics() -> None:
    assert ALL_TOPICS == (
        "storefront.carts", "carts", "orders", "payments", "fulfillment", "warehouse.events",
        "storefront.returns", "returns",
    )  # fmt: skip
    assert tuple(TOPIC_SPECS) == ALL_TOPICS
    assert dead_letter_topic("orders") == "orders.dlq"
    assert dead_letter_topic("warehouse.events") == "warehouse.events.dlq"
    with pytest.raises(ValueError, match="no dead-letter topic"):
        dead_letter_topic("orders.dlq")


def test_registry_names_are_unique_class_names_on_known_topics() -> None:
    assert len(EVENT_TYPES) == len(ALL_EVENTS) == len({cls.__name__ for cls in ALL_EVENTS})
    for name, cls in EVENT_TYPES.items():
        assert cls.event_type == name == cls.__name__
        assert cls.topic in ALL_TOPICS
        assert cls.schema_version == 1
        assert event_class(name) is cls
    assert event_class("NoSuchEvent") is None
    assert set(EVENTS_BY_TOPIC) == set(ALL_TOPICS)
    assert [cls for topic in ALL_TOPICS for cls in EVENTS_BY_TOPIC[topic]] == list(ALL_EVENTS)


def test_every_event_of_the_design_exists_on_its_topic() -> None:
    for topic, names in CONTRACT_EVENTS.items():
        assert names <= {cls.event_type for cls in EVENTS_BY_TOPIC[topic]}, topic


def test_events_beyond_the_design_table_are_documented_as_internal_or_issue_driven() -> None:
    designed = set().union(*CONTRACT_EVENTS.values())
    added = {name for name in EVENT_TYPES if name not in designed}
    assert added == {"CartAbandoned", "ReservationReleased", "ReturnRestocked"}
    for name in added - {"CartAbandoned"}:
        assert "Internal" in (EVENT_TYPES[name].__doc__ or "")


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_says_who_publishes_and_who_consumes_it(event_type: str) -> None:
    doc = inspect.cleandoc(EVENT_TYPES[event_type].__doc__ or "")
    assert re.search(r"published by", doc, re.IGNORECASE), event_type
    assert re.search(r"consumed by", doc, re.IGNORECASE), event_type


def test_every_event_has_an_example() -> None:
    assert example_types() == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event_type", example_types())
def test_the_aggregate_id_is_the_key_column_of_the_topic(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    assert cls.key_field in KEY_FIELDS_BY_TOPIC[cls.topic]
    event = cls.model_validate(example_data(event_type))
    assert event.aggregate_id == str(example_data(event_type)[cls.key_field])


# ----------------------------------------------------------------------------- strictness


def _paths(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, document
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*path, index))


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(document)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


def _wrong_type(value: Any) -> Any:
    """A value of the wrong JSON type that lax parsing would happily coerce."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return 1
    return None


@pytest.mark.parametrize("event_type", example_types())
def test_no_field_accepts_a_value_of_the_wrong_json_type(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    document = example_data(event_type)
    checked = 0
    for path, value in _paths(document):
        wrong = _wrong_type(value)
        if not path or wrong is None:
            continue
        with pytest.raises(ValidationError):
            cls.model_validate(_replaced(document, path, wrong))
        checked += 1
    assert checked > 0


def test_strictness_examples() -> None:
    document = example_data("OrderPlaced")
    for path, wrong in [
        (("lines", 0, "quantity"), "2"),
        (("lines", 0, "quantity"), 2.0),
        (("lines", 0, "quantity"), True),
        (("lines", 0, "quantity"), 0),
        (("lines", 0, "unit_price", "amount"), 9.25),
        (("lines", 0, "sku"), "mb-spiky"),
        (("lines", 0, "sku"), "MB-SPIKY-8CM\n"),
        (("ship_to", "country"), "DE\n"),
        (("fx", "rate"), "0.9235\n"),
        (("fx", "as_of"), "2025-01-31T00:00:00Z\n"),
        (("order_id",), example_data("OrderPlaced")["order_id"] + "\n"),
        (("ship_to", "country"), "de"),
        (("ship_to", "country"), "DEU"),
        (("email",), "not-an-email"),
        (("order_id",), "not-a-uuid"),
        (("fx", "rate"), 0.9235),
        (("fx", "rate"), "0"),
        (("fx", "as_of"), 1738281600),
        (("payment", "method"), "amex"),
        (("payment", "card", "last4"), "42424"),
        (("lines",), []),
        (("shipping_fee", "currency"), "USD"),
    ]:
        with pytest.raises(ValidationError):
            OrderPlaced.model_validate(_replaced(document, path, wrong))


def test_refunds_are_in_one_currency() -> None:
    document = example_data("RefundRequested")
    document["shipping_refund"] = {"amount": "0.00", "currency": "USD"}
    with pytest.raises(ValidationError, match="one currency"):
        RefundRequested.model_validate(document)


@pytest.mark.parametrize(
    "event_type",
    [
        "OrderPlaced",
        "ReturnRequested",
        "ReturnAuthorized",
        "ReplacementRequested",
        "ReturnParcelReceived",
        "ShipmentDelivered",
    ],
)
def test_the_lines_of_one_sku_total_at_most_the_quantity_cap(event_type: str) -> None:
    # Split over lines, 10,001 units of one SKU passed each line's cap; a consumer adding
    # them up (fulfillment's stock, its events) then failed on a valid event.
    model = event_class(event_type)
    assert model is not None
    document = example_data(event_type)
    first = document["lines"][0]
    halves = [dict(first, quantity=5_000), dict(first, quantity=5_000)]
    model.model_validate(dict(document, lines=halves))
    with pytest.raises(ValidationError, match="at most 10000 per SKU"):
        model.model_validate(dict(document, lines=[*halves, dict(first, quantity=1)]))


def test_events_are_immutable() -> None:
    event = OrderPlaced.model_validate(example_data("OrderPlaced"))
    with pytest.raises(ValidationError):
        event.email = "other@example.com"  # type: ignore[misc]


# ------------------------------------------------------------------------------ tolerance


def _with_unknown_fields(document: Any) -> Any:
    if isinstance(document, dict):
        widened = {key: _with_unknown_fields(value) for key, value in document.items()}
        widened["added_in_v1_5"] = {"anything": [1, "two", None]}
        return widened
    if isinstance(document, list):
        return [_with_unknown_fields(value) for value in document]
    return document


@pytest.mark.parametrize("event_type", example_types())
def test_unknown_fields_from_a_newer_producer_are_ignored(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    original = cls.model_validate(example_data(event_type))
    widened = _with_unknown_fields(example_data(event_type))
    assert cls.model_validate(widened) == original
    assert cls.model_validate_json(json.dumps(widened)) == original


def test_an_older_consumer_reads_a_newer_envelope_end_to_end() -> None:
    event = OrderPlaced.model_validate(example_data("OrderPlaced"))
    document = Envelope.wrap(event, producer="cart", correlation_id="j").model_dump(mode="json")
    document = _with_unknown_fields(document)
    parsed = Envelope.from_bytes(json.dumps(document).encode()).parse_event()
    assert parsed == event


# -------------------------------------------------------- storefront inputs, card data


def test_checkout_inputs_a_customer_can_get_wrong_reach_the_cart_for_a_rejection() -> None:
    document = example_data("CheckoutRequested")
    document["payment"] = {"method": "amex"}  # unsupported method, no token
    document["shipping_address"] = {"country": "Germany", "city": ""}
    event = CheckoutRequested.model_validate(document)
    assert event.payment.method == "amex"
    assert event.payment.provider_token is None
    del document["shipping_address"]
    assert CheckoutRequested.model_validate(document).shipping_address is None
    assert CartCurrencySelected.model_validate({"cart_id": "c", "currency": "XYZ"})


def test_payment_inputs_a_storefront_can_get_wrong_reach_the_cart() -> None:
    # A blank or malformed token, or a blank or long method, was invalid_event_data: dead-
    # lettered, where the docs promised a CheckoutRejected the storefront waits for.
    document = example_data("CheckoutRequested")
    for payment in (
        {"method": "visa", "provider_token": ""},
        {"method": "visa", "provider_token": "tok with spaces"},
        {"method": "", "provider_token": "tok_visa_approve"},
        {"method": "x" * 40, "provider_token": "tok_visa_approve"},
    ):
        CheckoutRequested.model_validate({**document, "payment": payment})
    with pytest.raises(ValidationError, match="card number"):  # card data is still refused here
        CheckoutRequested.model_validate(
            {**document, "payment": {"method": "visa", "provider_token": "4111111111111111"}}
        )


def test_a_currency_selected_in_lower_case_is_read_upper_case() -> None:
    # "eur" was dead-lettered: the cart kept its old currency and the storefront heard nothing.
    for written in ("eur", "Eur", "EUR"):
        selected = CartCurrencySelected.model_validate({"cart_id": "c", "currency": written})
        assert selected.currency == "EUR"
    for not_a_code in ("EURO", "E1R", "€UR", ""):
        with pytest.raises(ValidationError):
            CartCurrencySelected.model_validate({"cart_id": "c", "currency": not_a_code})


def test_a_card_number_is_refused_even_inside_a_token() -> None:
    for token in ("4111111111111111", "tok_4111111111111111", "5500000000000004"):
        document = example_data("CheckoutRequested")
        document["payment"]["provider_token"] = token
        with pytest.raises(ValidationError, match="card number"):
            CheckoutRequested.model_validate(document)


FORBIDDEN_TOKENS = {"pan", "cvv", "cvc", "cvv2", "cvc2", "cid", "pin"}
FORBIDDEN_PARTS = ("cardnumber", "cardno", "accountnumber", "securitycode", "verification")


def _property_names(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _property_names(value)


def test_no_field_anywhere_in_the_contract_could_hold_card_numbers_or_codes() -> None:
    names = {name for schema in all_event_schemas().values() for name in _property_names(schema)}
    assert "provider_token" in names
    assert "last4" in names
    for name in names:
        tokens = set(re.split(r"[_\-]", name.lower()))
        squashed = re.sub(r"[_\-]", "", name.lower())
        assert not tokens & FORBIDDEN_TOKENS, name
        assert not any(part in squashed for part in FORBIDDEN_PARTS), name


def test_nested_models_have_no_card_number_fields_either() -> None:
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> Iterator[str]:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            yield name
            for candidate in _models_in(field.annotation):
                yield from walk(candidate)

    names = {name for cls in ALL_EVENTS for name in walk(cls)}
    assert {"card", "last4", "expiry_month", "expiry_year"} <= names
    assert not names & {"pan", "card_number", "cvv", "cvc", "number", "security_code"}


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in getattr(annotation, "__args__", ()):
        yield from _models_in(argument)
    for meta in getattr(annotation, "__metadata__", ()):
        yield from _models_in(meta)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        yield from _models_in(origin)


def test_the_examples_carry_no_card_numbers() -> None:
    for event_type in example_types():
        assert not contains_card_number(json.dumps(example_data(event_type))), event_type


def test_the_readme_lists_every_event_and_topic() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    for name in EVENT_TYPES:
        assert name in readme, name
    for topic in ALL_TOPICS:
        assert f"`{topic}`" in readme, topic


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OUT_OF_RANGE = {
    _TIMESTAMP: (
        "0001-01-01T00:00:00+01:00",  # not even convertible to UTC: year 0
        "9999-12-31T23:59:59-01:00",  # likewise: year 10000
        "1969-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
    ),
    _DATE: ("1969-12-31", "9000-01-01"),
}


def _time_paths(event_type: str) -> list[tuple[tuple[Any, ...], str, re.Pattern[str]]]:
    return [
        (path, value, kind)
        for path, value in _paths(example_data(event_type))
        if path and isinstance(value, str)
        for kind in _OUT_OF_RANGE
        if kind.match(value)
    ]


@pytest.mark.parametrize("event_type", [t for t in example_types() if _time_paths(t)])
def test_every_timestamp_and_date_out_of_range_is_a_validation_error(event_type: str) -> None:
    # An error of another kind (OverflowError) escaped pydantic, and the consumer rewound on
    # the record for ever; a date near 9999 passed, and a handler's window overflowed.
    cls = EVENT_TYPES[event_type]
    document = example_data(event_type)
    for path, value, kind in _time_paths(event_type):
        for wrong in _OUT_OF_RANGE[kind]:
            with pytest.raises(ValidationError, match="out of range"):
                cls.model_validate(_replaced(document, path, wrong))
        cls.model_validate(_replaced(document, path, "8999" + value[4:]))  # the last year in
