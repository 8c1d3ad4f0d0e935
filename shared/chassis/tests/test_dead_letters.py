import json
from datetime import UTC, datetime

import pytest
from orderflow_chassis.dead_letters import (
    WITHHELD_REASON,
    DeadLetter,
    bounded,
    failure_details,
    original_headers,
    screened_parts,
)
from orderflow_contracts.card_data import contains_card_number


def _letter(**overrides: object) -> DeadLetter:
    fields: dict[str, object] = {
        "original_topic": "orders",
        "partition": 2,
        "offset": 41,
        "key": b"order-1",
        "value": b"{not json",
        "headers": [("content-type", b"application/json"), ("dlq.reason", b"stale")],
        "error_code": "malformed_json",
        "reason": "Expecting property name enclosed in double quotes",
        "service": "payment",
        "consumer": "orderflow.payment.orders",
        "failed_at": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return DeadLetter(**fields)  # type: ignore[arg-type]


def test_dead_letter_goes_to_the_dlq_topic_of_its_origin() -> None:
    assert _letter().topic == "orders.dlq"


def test_dead_letter_headers_say_why_where_and_when() -> None:
    details = failure_details(_letter().kafka_headers())
    assert details == {
        "error_code": "malformed_json",
        "reason": "Expecting property name enclosed in double quotes",
        "service": "payment",
        "consumer": "orderflow.payment.orders",
        "failed_at": "2026-11-24T12:00:00Z",
        "original_topic": "orders",
        "original_partition": "2",
        "original_offset": "41",
    }


def test_stale_failure_headers_are_replaced_and_original_ones_kept_for_replay() -> None:
    headers = _letter().kafka_headers()
    assert [v for k, v in headers if k == "dlq.reason"] == [
        b"Expecting property name enclosed in double quotes"
    ]
    assert original_headers(headers) == [("content-type", b"application/json")]


def test_card_numbers_in_original_headers_are_redacted_in_the_dead_letter() -> None:
    letter = _letter(headers=[("note", b"paid with 4111 1111 1111 1111"), ("trace", b"abc")])
    headers = dict(letter.kafka_headers())
    assert b"4111" not in headers["note"]
    assert headers["trace"] == b"abc"


PAN = "4111111111111111"


def _everything(letter: DeadLetter) -> bytes:
    headers = letter.kafka_headers()
    return b"|".join(
        [letter.key or b"", letter.value]
        + [name.encode() for name, _ in headers]
        + [value for _, value in headers]
    )


def test_no_card_number_survives_anywhere_in_a_dead_letter() -> None:
    letter = _letter(
        key=PAN.encode(),
        value=b'{"data": {"note": 4111111111111111, "reason": "card 4111 1111 1111 1111"}}',
        headers=[(f"x-{PAN}", b"v"), ("note", PAN.encode())],
        reason=f"no cart {PAN!r}: unknown",
    )
    everything = _everything(letter)
    for digits in (PAN, "4111 1111 1111 1111"):
        assert digits.encode() not in everything
    assert letter.key == b"[REDACTED-PAN]"
    assert failure_details(letter.kafka_headers())["reason"] == "no cart '[REDACTED-PAN]': unknown"
    assert ("x-[REDACTED-PAN]", b"v") in letter.kafka_headers()


def test_a_value_not_json_or_too_deep_is_redacted_at_the_byte_level() -> None:
    assert PAN.encode() not in _letter(value=b"{oops " + PAN.encode()).value
    deep = b"[" * 5_000 + PAN.encode() + b"]" * 5_000
    assert PAN.encode() not in _letter(value=deep).value


def test_generated_ids_and_clean_values_are_kept_as_they_are_for_replay() -> None:
    value = b'{"data": {"cart_id": "cart-6940787722504b46", "amount": "12.30"}}'
    letter = _letter(key=b"cart-6940787722504b46", value=value)
    assert letter.key == b"cart-6940787722504b46"
    assert letter.value == value


ESCAPED_PAN = "".join(f"\\u{ord(c):04x}" for c in PAN)
DEEP = "[" * 70 + "]" * 70


def _card_number_anywhere(letter: DeadLetter) -> bool:
    """Whether a card number hides anywhere in ``letter``, however its bytes are read."""
    everything = _everything(letter)
    readings = [everything, everything.replace(b"\x00", b"")]
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le"):
        readings.append(everything.decode(encoding, "ignore").encode("utf-8", "ignore"))
    if b"\\u" in letter.value:
        readings.append(letter.value.decode("unicode_escape", "ignore").encode("utf-8", "ignore"))
    return any(PAN.encode() in reading for reading in readings)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f'{{"note": "{ESCAPED_PAN}", "pad": {DEEP}}}'.encode(), "too deep, escaped digits"),
        (f'{{"note": "{PAN}", "pad": {DEEP}}}'.encode("utf-16-le"), "too deep, UTF-16"),
        (f"PAN {PAN} CVV 123".encode("utf-16-le"), "not JSON, UTF-16"),
        (f'{{"note": "{ESCAPED_PAN}"'.encode(), "not JSON, escaped digits"),
        (b'{"note": "4111\\n1111\\n1111\\n1111', "not JSON, escaped line breaks"),
        (b"\xff" + f"PAN {PAN}".encode("utf-16-be"), "not JSON, not UTF-8"),
    ],
)
def test_a_value_that_cannot_be_screened_is_withheld_and_the_reason_says_why(
    value: bytes, why: str
) -> None:
    letter = _letter(value=value, error_code="malformed_json")
    assert letter.value == b"[WITHHELD]", why
    assert not _card_number_anywhere(letter)
    details = failure_details(letter.kafka_headers())
    assert details["withheld"] == "value"
    assert details["reason"].startswith("Expecting property name")
    assert details["reason"].endswith(WITHHELD_REASON)


@pytest.mark.parametrize(
    ("headers", "key", "withheld"),
    [
        ([("x-note", PAN.encode("utf-16-le"))], b"order-1", "header values"),
        ([("x-note", ESCAPED_PAN.encode())], b"order-1", "header values"),
        ([("x-" + PAN.encode("utf-16-le").decode(), b"v")], b"order-1", "header names"),
        ([("note", b"ok")], PAN.encode("utf-16-le"), "key"),
        ([("note", b"ok")], b"\xff" + PAN.encode(), "key"),
    ],
)
def test_a_key_or_header_that_cannot_be_screened_is_withheld(
    headers: list[tuple[str, bytes]], key: bytes, withheld: str
) -> None:
    letter = _letter(headers=headers, key=key)
    assert not _card_number_anywhere(letter)
    assert failure_details(letter.kafka_headers())["withheld"] == withheld


def test_a_header_named_for_card_data_keeps_its_name_not_its_value() -> None:
    letter = _letter(headers=[("cvv", b"737"), ("Card-Number", b"4111")])
    assert letter.headers == [
        ("cvv", b"[REDACTED-CARD-DATA]"),
        ("Card-Number", b"[REDACTED-CARD-DATA]"),
    ]


def test_a_duplicate_key_that_hides_a_card_number_is_redacted_in_every_pair() -> None:
    # Envelope.from_bytes refuses the document (malformed_json), and its dead letter once kept
    # the original bytes: the screen had read the last "note" only.
    value = f'{{"data": {{"note": "{PAN}", "note": "x"}}}}'.encode()
    letter = _letter(value=value, error_code="malformed_json")
    assert letter.value == b'{"data":{"note":"[REDACTED-PAN]","note":"x"}}'
    assert not _card_number_anywhere(letter)


def test_a_field_named_for_card_data_is_redacted_from_any_dead_letter() -> None:
    value = b'{"data": {"payment": {"provider_token": "tok_1", "cvv": "737"}}}'
    letter = _letter(value=value, error_code="invalid_event_data")
    kept = json.loads(letter.value)
    assert kept["data"]["payment"] == {"provider_token": "tok_1", "cvv": "[REDACTED-CARD-DATA]"}


def test_json_with_escapes_and_no_card_number_is_kept_as_it_is_for_replay() -> None:
    # Read as JSON, it was screened decoded: a byte-level redaction was never needed.
    value = b'{"data": {"note": "caf\\u00e9 \\ud83d\\ude00", "amount": "12.30"}}'
    letter = _letter(value=value, error_code="handler_failed")
    assert letter.value == value
    assert "withheld" not in failure_details(letter.kafka_headers())


def test_what_was_withheld_stays_withheld_and_said_once_when_the_letter_is_bounded() -> None:
    letter = _letter(
        value=f"PAN {PAN}".encode("utf-16-le"),
        headers=[(f"h{i}", b"v" * 1_000) for i in range(30)],
    )
    cut = bounded(letter, max_bytes=10_000)
    details = failure_details(cut.kafka_headers())
    assert cut.value == b"[WITHHELD]"
    assert (details["truncated"], details["withheld"]) == ("true", "value")
    assert details["reason"].count(WITHHELD_REASON) == 1


@pytest.mark.parametrize(
    "written",
    [
        PAN.encode("utf-16-le"),
        PAN.encode("utf-16-be"),
        "4111 1111 1111 1111".encode("utf-16-le"),
        PAN.encode("utf-32"),
        b"\xff".join(PAN.encode()[i : i + 1] for i in range(16)),  # U+FFFD once decoded
        f"no cart {PAN}".encode("utf-16-le") + b"\\u0041",
    ],
)
def test_a_failure_detail_that_hides_a_card_number_between_unseen_characters_is_redacted(
    written: bytes,
) -> None:
    # Stop 44: a dlq.* header another writer put there, read by the console; UTF-16 kept a NUL
    # between the digits, and the reason column held "4\x001\x001...".
    parts = screened_parts(b"k", b"{}", [("dlq.reason", written), ("dlq.service", written)])
    for _, kept in parts.headers:
        text = kept.decode("utf-8")
        assert "[REDACTED-PAN]" in text
        assert not contains_card_number(text.replace("\x00", "").replace("\ufffd", ""))
    assert not _card_number_anywhere(_letter(headers=[("dlq.reason", written)]))


def test_a_reason_that_hides_a_card_number_between_nul_characters_is_redacted() -> None:
    letter = _letter(reason="no cart " + "\x00".join(PAN))
    assert failure_details(letter.kafka_headers())["reason"] == "no cart [REDACTED-PAN]"


def test_a_failure_detail_in_utf16_without_a_card_number_is_kept_readable() -> None:
    parts = screened_parts(b"k", b"{}", [("dlq.reason", "no cart 12".encode("utf-16-le"))])
    assert parts.headers == [("dlq.reason", b"no cart 12")]
