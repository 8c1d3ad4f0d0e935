from datetime import UTC, datetime

from orderflow_chassis.dead_letters import DeadLetter, failure_details, original_headers


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
