"""A card number cut up across a document's values: typed into boxes (an object's values), in an
array of objects, or both, is refused and redacted; ids side by side and every valid event
pass, and pass without being walked."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from orderflow_chassis import card_data_guard
from orderflow_chassis.card_data_guard import screen_payload
from orderflow_chassis.card_data_json import spelled_slots
from orderflow_chassis.card_data_lists import has_listed_digits
from orderflow_chassis.errors import PermanentError
from orderflow_contracts.card_brands import card_brand, luhn_valid
from orderflow_contracts.card_data import contains_card_number, redact_card_numbers
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_data, example_event
from orderflow_contracts.product_codes import is_ean13
from orderflow_contracts.registry import EVENT_TYPES

PAN = "[REDACTED-PAN]"


def refused_copy(payload: bytes) -> Any:
    with pytest.raises(PermanentError) as refused:
        screen_payload(payload)
    assert refused.value.code == "card_data_refused"
    assert b"4111" not in (refused.value.redacted_payload or b"")
    return json.loads(refused.value.redacted_payload or b"")


@pytest.mark.parametrize(
    ("document", "kept"),
    [
        # Four boxes of a checkout form, a value each.
        (
            {"note": "x", "n1": "4111", "n2": "1111", "n3": "1111", "n4": "1111"},
            {"note": "x", "n1": PAN, "n2": PAN, "n3": PAN, "n4": PAN},
        ),
        ({"a": 4111, "b": 1111, "c": 1111, "d": 1111}, {"a": PAN, "b": PAN, "c": PAN, "d": PAN}),
        # An array of objects, objects in objects, and what holds nothing between them.
        (
            {"boxes": [{"g": "4111"}, {"g": "1111"}, {"g": "1111"}, {"g": "1111"}]},
            {"boxes": [{"g": PAN}, {"g": PAN}, {"g": PAN}, {"g": PAN}]},
        ),
        (
            {"card": {"a": "4111", "b": "1111"}, "x": None, "more": {"c": "", "d": [1111, 1111]}},
            {"card": {"a": PAN, "b": PAN}, "x": None, "more": {"c": "", "d": [PAN, PAN]}},
        ),
        (
            {"p": {"q": {"r": "4111-"}}, "s": {}, "t": "1111-1111-1111"},
            {"p": {"q": {"r": PAN}}, "s": {}, "t": PAN},
        ),
        # Beside a field of the contract (an id here), which is no piece: the card is spelled
        # by the values after it.
        (
            {"order_id": "4", "a": "4111", "b": "1111", "c": "1111", "d": "1111"},
            {"order_id": "4", "a": PAN, "b": PAN, "c": PAN, "d": PAN},
        ),
    ],
)
def test_a_card_number_cut_up_across_values_is_refused_and_its_pieces_redacted(
    document: dict[str, Any], kept: dict[str, Any]
) -> None:
    for written in (json.dumps(document), json.dumps(document, indent=2)):
        assert refused_copy(written.encode()) == kept


@pytest.mark.parametrize(
    "payload",
    [
        b'[4111, "", 1111, 1111, ":", 1111]',  # a string that begins with ":"
        b'["4111", 1111, 1111, ":1111"]',
        b'{"a": "4111", ":b": 1111, "c": 1111, "d": 1111}',  # a key that does
        b'[\n  4111,\n  "",\n  1111,\n  1111,\n  " :",\n  1111\n]',
    ],
)
def test_a_string_that_begins_with_a_colon_is_not_taken_for_a_key(payload: bytes) -> None:
    # The first pass deletes keys: a search for one that starts at a string's closing quote
    # would take the numbers up to such a string for a key, and delete them.
    with pytest.raises(PermanentError) as refused:
        screen_payload(payload)
    assert refused.value.code == "card_data_refused"
    assert card_data_guard.kept_copy(payload[:-1]) == card_data_guard.WITHHELD


@pytest.mark.parametrize(
    "cut",
    [
        b'["4111", "1111", "1111", "1111',  # cut short inside its last string
        b'[4111, 1111, 1111, "1111',
        b'{"a": "4111", "b": "1111", "c": "1111", "d": "1111',
        b'[4111, 1111", 1111, 1111]',  # a stray quote
    ],
)
def test_bytes_that_are_not_whole_json_are_read_for_pieces(cut: bytes) -> None:
    with pytest.raises(PermanentError) as refused:
        screen_payload(cut)
    assert refused.value.code == "card_data_refused"
    assert card_data_guard.kept_copy(cut) == card_data_guard.WITHHELD


@pytest.mark.parametrize(
    "malformed", [b'[4111, "", 1111, 1111 ":", 1111]', b'[4111, "", 1111, 1111,\x0c":", 1111]']
)
def test_bytes_that_look_whole_but_are_not_json_are_never_kept_with_their_pieces(
    malformed: bytes,
) -> None:
    # The first pass is exact for JSON only: such bytes are dead-lettered as malformed JSON,
    # and their copy is withheld.
    assert card_data_guard.kept_copy(malformed) == card_data_guard.WITHHELD


@pytest.mark.parametrize(
    ("cut", "kept"),
    [
        (b'{"a": 1, "n": "4111111111111111"', b'{"a": 1, "n": "[REDACTED-PAN]"'),
        (b'{"a": 1, "n": "4111111111111111",}', b'{"a": 1, "n": "[REDACTED-PAN]",}'),
        (b"x 4111111111111111, 1", b"x [REDACTED-PAN], 1"),
    ],
)
def test_a_card_number_written_whole_in_bytes_that_are_not_json_is_redacted_not_withheld(
    cut: bytes, kept: bytes
) -> None:
    assert card_data_guard.kept_copy(cut) == kept


def test_pairs_with_equal_keys_are_read_each_in_its_place() -> None:
    payload = b'{"n": "4111", "n": "1111", "n": "1111", "n": "1111", "m": "x"}'
    with pytest.raises(PermanentError) as refused:
        screen_payload(payload)
    assert refused.value.redacted_payload == (
        b'{"n":"[REDACTED-PAN]","n":"[REDACTED-PAN]","n":"[REDACTED-PAN]",'
        b'"n":"[REDACTED-PAN]","m":"x"}'
    )


@pytest.mark.parametrize(
    "document",
    [
        # Ids follow their own rule: numeric ids side by side are common, and are no card.
        {"cart_id": "400123", "customer_id": "5512345", "order_id": "1111", "sku": "x"},
        # The contract's fields say what they hold: a SKU, a quantity and an amount.
        {"sku": "4111", "quantity": 1111, "requested": 1111, "amount": "1111"},
        # A card's last four digits and its expiry: the longest run a valid event has.
        {"last4": "4242", "expiry_month": 12, "expiry_year": 2030},
        {"a": "4111", "b": "1111", "note": "x", "c": "1111", "d": "1111"},  # a letter breaks
        {"a": "4111", "b": "1111", "c": True, "d": "1111", "e": "1111"},  # so does true
        {"a": 4111, "b": 1111, "c": 1111, "d": 1112},  # not Luhn-valid
        {"years": {"a": 2017, "b": 2018, "c": 2019, "d": 2020}},  # no brand's number
    ],
)
def test_values_that_spell_no_card_number_pass(document: dict[str, Any]) -> None:
    screen_payload(json.dumps(document).encode())


@pytest.mark.parametrize(
    "cut",
    [
        b'{"n1": "4111", "n2": "1111", "n3": "1111", "n4": "1111"',
        b"{'n1': '4111', 'n2': '1111', 'n3': '1111', 'n4': '1111'}",  # Python's repr
        b'[{"g": 4111}, {"g": 1111}, {"g": 1111}, {"g": 1111},]',  # a trailing comma
    ],
)
def test_a_document_that_is_not_json_keeps_no_card_number_cut_up_across_values(
    cut: bytes,
) -> None:
    assert card_data_guard.kept_copy(cut) == card_data_guard.WITHHELD
    with pytest.raises(PermanentError) as refused:
        screen_payload(cut)
    assert refused.value.code == "card_data_refused"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_no_valid_event_is_walked_for_pieces_nor_refused(event_type: str) -> None:
    # The walk decodes a document: the first pass for pieces must rule events out (a digit run,
    # such as a tracking number, may still send one to the walk).
    envelope = Envelope.wrap(
        example_event(event_type), producer="cart", correlation_id=f"journey-{uuid.uuid4()}"
    ).to_bytes()
    assert not has_listed_digits(envelope), "events hold no 13 digits cut up across values"
    screen_payload(envelope)


@pytest.mark.parametrize(
    "event_type",
    ["CartAbandoned", "OrderPlaced", "StockUnavailable", "StockReserved", "RefundRequested",
     "ReturnAuthorized", "ReturnRestocked"],
)  # fmt: skip
def test_valid_events_with_all_digit_skus_beside_quantities_and_amounts_pass(
    event_type: str,
) -> None:
    # A cart line's SKU may be all digits (an EAN or UPC code): beside its quantity and the
    # amounts after it, 13 digits or more, Visa-shaped and Luhn-valid one time in ten.
    rng = random.Random(event_type)
    for _ in range(300):
        data = _with_digits(example_data(event_type), rng)
        event = EVENT_TYPES[event_type].model_validate(data)
        screen_payload(Envelope.wrap(event, producer="cart", correlation_id="c").to_bytes())


def _with_digits(value: Any, rng: random.Random) -> Any:
    """``value`` with every SKU all digits (6 to 12 of them, a 4 first: an EAN-8 or a UPC-A
    code; 13 alone are a Visa-shaped number, and the free-text rule reads them so), quantities
    and amounts drawn at random."""
    if isinstance(value, list):
        return [_with_digits(item, rng) for item in value]
    if not isinstance(value, dict):
        return value
    changed = {key: _with_digits(item, rng) for key, item in value.items()}
    if "sku" in changed:
        changed["sku"] = "4" + "".join(rng.choices("0123456789", k=rng.randint(5, 11)))
    for count in ("quantity", "requested", "available"):
        if count in changed:
            changed[count] = rng.randint(1, 99)
    if "amount" in changed and isinstance(changed["amount"], str):
        changed["amount"] = f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
    return changed


def test_the_first_pass_never_rules_out_a_document_the_walk_would_refuse() -> None:
    # Random documents: a card number cut at random into pieces of every kind, spread over
    # arrays and objects (ids among the keys), with noise around and between them.
    rng = random.Random(11)
    pieces: list[Callable[[str], Any]] = [
        str, int, float, lambda digits: f"{digits}-", lambda digits: f"{digits},"
    ]  # fmt: skip
    noise: list[Any] = [
        None, "", ",", "x", True, 7, "12:30", [], {}, "2025-01-31T00:00:00Z", ":", " :", ":1"
    ]  # fmt: skip
    refused = 0
    for _ in range(3_000):
        digits = rng.choice(["4111111111111111", "5555555555554444", "378282246310005"])
        cuts = sorted(rng.sample(range(1, len(digits)), rng.randint(1, 6)))
        values: list[Any] = []
        for start, end in zip([0, *cuts], [*cuts, len(digits)], strict=True):
            chunk = digits[start:end]
            values.append(rng.choice(pieces)(chunk) if chunk[0] != "0" else chunk)
            if rng.random() < 0.2:
                values.append(rng.choice(noise))
        document = _scattered(values, rng)
        raw = json.dumps(document, indent=rng.choice([None, 1])).encode()
        walked = json.loads(raw, object_pairs_hook=tuple)
        if spelled_slots(walked):
            refused += 1
            assert has_listed_digits(raw), raw
    assert refused > 1_000, "the documents must spell card numbers often to prove anything"


def _scattered(values: list[Any], rng: random.Random) -> Any:
    """``values`` in their order, held by arrays and objects nested at random."""
    if len(values) <= 1 or rng.random() < 0.3:
        holder = rng.choice(["list", "dict"])
        if holder == "list":
            return list(values)
        keys = [
            f"{key}{index}"
            for index, key in enumerate(rng.choices(["a", "n", "x y", ":b"], k=len(values)))
        ]
        if rng.random() < 0.3:  # an id's value ends a run
            keys[rng.randrange(len(keys))] = "order_id"
        return dict(zip(keys, values, strict=True))
    cut = rng.randint(1, len(values) - 1)
    return [_scattered(values[:cut], rng), _scattered(values[cut:], rng)]


EAN = "4006381333924"  # a valid EAN-13 code, Visa-shaped and Luhn-valid


def test_an_ean_13_code_that_reads_as_a_visa_number_is_no_card_number() -> None:
    assert is_ean13(EAN)
    assert luhn_valid(EAN)
    assert card_brand(EAN) is not None
    added = example_event("CartItemAdded").model_dump(mode="json") | {"sku": EAN}
    event = EVENT_TYPES["CartItemAdded"].model_validate(added)
    screen_payload(Envelope.wrap(event, producer="cart", correlation_id="c").to_bytes())
    # Quoted in a message, as the services quote SKUs, and as a Kafka key or header.
    screen_payload(json.dumps({"message": f"2 x {EAN}: at most 1 in stock"}).encode())
    assert not contains_card_number(EAN, identifier=True)
    assert redact_card_numbers(f"sku={EAN}") == f"sku={EAN}"
    # Visa's 13-digit test number is no EAN-13, and an EAN-13 cut up is read as written:
    # typed into boxes, a 13-digit Maestro number that is an EAN-13 too is refused.
    boxes = {"a": "5018", "b": "0000", "c": "0003", "d": "1"}
    for document in ({"sku": "4222222222222"}, {"note": "4006 3813 3392 4"}, boxes):
        with pytest.raises(PermanentError) as refused:
            screen_payload(json.dumps(document).encode())
        assert refused.value.code == "card_data_refused"
    # A refused document keeps the code and redacts the card number.
    with pytest.raises(PermanentError) as refused:
        screen_payload(json.dumps({"sku": EAN, "note": "4111111111111111"}).encode())
    assert json.loads(refused.value.redacted_payload or b"") == {"sku": EAN, "note": PAN}


@pytest.mark.parametrize("code", ["4006381333931", "0000000000000", "5901234123457"])
def test_ean_13_codes_have_their_check_digit(code: str) -> None:
    assert is_ean13(code)
    assert not is_ean13(code[:-1] + str((int(code[-1]) + 1) % 10))
    assert not is_ean13(code[:-1])
    assert not is_ean13("\uff14" + code[1:])  # a fullwidth digit
