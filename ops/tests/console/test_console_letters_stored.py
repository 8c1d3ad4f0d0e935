"""What the console keeps of a dead letter, whoever wrote it to the topic."""

from __future__ import annotations

from aiokafka import ConsumerRecord
from orderflow_chassis.dlq_cli import StoredDeadLetter
from orderflow_ops.console.dead_letter_reader import stored_letter


def letter(value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("orders.dlq", 0, 3, 0, 0, b"k", value, None, len(value), 0, headers)


def test_a_value_it_withholds_is_marked_so_it_is_never_replayed() -> None:
    # Stored as [WITHHELD] with nothing saying so, a console replay published the
    # placeholder to the original topic as if it were the record.
    stored = stored_letter(letter(b"\xff\xfe not text", [("dlq.reason", b"malformed_json")]))

    assert stored.value == b"[WITHHELD]"
    assert stored.details["withheld"] == "value"
    as_replayed = StoredDeadLetter(0, 3, stored.key, stored.value, stored.headers)
    assert as_replayed.unreplayable_because is not None


def test_our_services_reasons_are_kept_as_written() -> None:
    # A reason quoting the JSON parser has a \u in it: withheld like a record's bytes, the
    # console showed [WITHHELD] on exactly the letters ops need to read.
    reason = b"message is not JSON: Invalid \\uXXXX escape at line 1 column 38"
    stored = stored_letter(letter(b'{"a": "cut', [("dlq.reason", reason)]))

    assert stored.details["reason"] == reason.decode()
    assert "withheld" not in stored.details


def test_details_the_read_model_indexes_are_cut_to_fit_an_index_entry() -> None:
    # Review (helper 131): a dlq.error_code or dlq.service of a few KB could not be indexed,
    # and the reader read the batch again for ever.
    long = "x" * 5_000
    stored = stored_letter(
        letter(
            b"{}",
            [
                ("dlq.error_code", long.encode()),
                ("dlq.service", long.encode()),
                ("dlq.consumer", long.encode()),
                ("dlq.original_topic", long.encode()),
            ],
        )
    )

    for name in ("error_code", "service", "consumer"):
        assert len(stored.details[name]) == 200
        assert stored.details[name].endswith("...")
    assert "original_topic" not in stored.details  # no broker takes it: the letter's own topic
