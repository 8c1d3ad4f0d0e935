"""Naming the dead letters to replay: one partition's offset, an event id, or a reason code."""

from __future__ import annotations

import json
import re

import pytest
from orderflow_chassis.dlq_cli import Selection, SelectionError, StoredDeadLetter, select


def _letter(partition: int, offset: int, event_id: str | None, code: str = "x") -> StoredDeadLetter:
    value = json.dumps({"event_id": event_id}).encode() if event_id else b"{not json"
    return StoredDeadLetter(partition, offset, None, value, [("dlq.error_code", code.encode())])


LETTERS = [
    _letter(0, 0, "a", "handler_failed"),
    _letter(1, 0, "b"),
    _letter(2, 0, "b"),
    _letter(2, 1, None, "handler_failed"),
]


def test_partition_and_offset_name_one_letter() -> None:
    assert select(LETTERS, Selection(partition=2, offsets=[1])) == [LETTERS[3]]


def test_an_event_id_names_its_letter_in_any_partition() -> None:
    assert select(LETTERS, Selection(event_ids=["a"])) == [LETTERS[0]]


def test_an_error_code_selects_all_its_letters_optionally_in_one_partition() -> None:
    assert select(LETTERS, Selection(error_code="handler_failed")) == [LETTERS[0], LETTERS[3]]
    assert select(LETTERS, Selection(partition=2, error_code="handler_failed")) == [LETTERS[3]]


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (Selection(), "name the dead letters"),
        (Selection(offsets=[0]), "add --partition"),
        (Selection(partition=0, offsets=[0], event_ids=["a"]), "use one way"),
        (Selection(event_ids=["a"], error_code="x"), "use one way"),
        (Selection(partition=1, event_ids=["a"]), "drop --partition"),
        (Selection(partition=1, offsets=[5]), "no dead letter in partition 1 at offset(s) 5"),
        (Selection(event_ids=["zzz"]), "no dead letter of event zzz"),
        (Selection(event_ids=["b"]), "partition 1 offset 0; partition 2 offset 0"),
    ],
)
def test_an_ambiguous_or_empty_request_is_refused_with_the_reason(
    selection: Selection, message: str
) -> None:
    with pytest.raises(SelectionError, match=re.escape(message)):
        select(LETTERS, selection)


def test_a_malformed_value_has_no_event_id() -> None:
    assert LETTERS[3].event_id is None
    deep = StoredDeadLetter(0, 0, None, b"[" * 100_000 + b"]" * 100_000, [])
    assert deep.event_id is None
