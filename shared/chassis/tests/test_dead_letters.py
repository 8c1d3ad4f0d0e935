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
