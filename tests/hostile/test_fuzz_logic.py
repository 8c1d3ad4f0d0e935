"""Fast checks of the fuzzer's own logic: card numbers, the scan, the oracle, the corpus."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from orderflow_contracts.examples import example_data

from tests.hostile.card_numbers import (
    KNOWN_TEST_PANS,
    CardNumberScan,
    card_numbers,
    grouped,
    json_escaped,
    luhn_valid,
)
from tests.hostile.corpus import hostile_records
from tests.hostile.oracle import Outcome, expected_outcome
from tests.hostile.strategies import HostileRecord, dumps, envelope_document


@settings(max_examples=200, derandomize=True, database=None)
@given(card_numbers())
def test_generated_card_numbers_pass_luhn_and_have_card_lengths(pan: str) -> None:
    assert luhn_valid(pan)
    assert 13 <= len(pan) <= 19


def test_luhn_refuses_a_changed_digit() -> None:
    assert all(luhn_valid(pan) for pan in KNOWN_TEST_PANS)
    assert not luhn_valid("4111111111111112")


def test_the_scan_finds_a_card_number_however_it_is_written() -> None:
    pan = "4111111111111111"
    scan = CardNumberScan(frozenset({pan}))
    scan.check("plain", f"x{pan}y")
    scan.check("grouped", grouped(pan, " "))
    scan.check("hyphens", grouped(pan, "-"))
    scan.check("escaped", json.dumps({"a": "__"}).replace("__", json_escaped(pan)))
    scan.check("redacted", "card [REDACTED-PAN] and 1738400000000 (an epoch)")
    assert [finding.split(":")[0] for finding in scan.findings] == [
        "plain",
        "grouped",
        "hyphens",
        "escaped",
    ]


def _record(value: bytes, **overrides: object) -> HostileRecord:
    values: dict[str, object] = {"kind": "t", "topic": "orders", "key": b"k", "value": value}
    values.update(overrides)
    return HostileRecord(**values)  # type: ignore[arg-type]


def _envelope(event_type: str, data: object, version: int = 1) -> bytes:
    import uuid

    return dumps(envelope_document(event_type, data, event_id=uuid.uuid4(), schema_version=version))


def test_the_oracle_holds_every_consumer_to_the_rules() -> None:
    placed = example_data("OrderPlaced")
    handles = frozenset({"OrderPlaced"})
    assert expected_outcome(_record(b"[[["), handles) is Outcome.DEAD_LETTERED
    assert expected_outcome(_record(_envelope("Nope", {})), handles) is Outcome.SKIPPED
    assert expected_outcome(_record(_envelope("OrderPlaced", placed, 2)), handles) is (
        Outcome.SKIPPED
    )
    assert expected_outcome(_record(_envelope("OrderPlaced", {})), handles) is (
        Outcome.DEAD_LETTERED
    )
    assert expected_outcome(_record(_envelope("OrderPlaced", {})), frozenset()) is (Outcome.SKIPPED)
    assert expected_outcome(_record(_envelope("OrderPlaced", placed)), handles) is (Outcome.HANDLED)
    card_key = _record(_envelope("OrderPlaced", placed), key=b"4111111111111111")
    assert expected_outcome(card_key, handles) is Outcome.CARD_REFUSED
    card_header = _record(b"{}", headers=(("x", b"4242 4242 4242 4242"),))
    assert expected_outcome(card_header, handles) is Outcome.CARD_REFUSED


def test_the_corpus_is_reproducible_and_covers_every_family() -> None:
    first = hostile_records("orders", 60, max_depth=2_000)
    again = hostile_records("orders", 60, max_depth=2_000)
    assert first == again, "CI must fuzz with the same corpus every run"
    families = {record.kind.split(".")[0] for record in first}
    assert families == {
        "random_bytes",
        "truncated_json",
        "deep_nesting",
        "huge_field",
        "wrong_types",
        "foreign_type",
        "unknown_type",
        "future_version",
        "card_number",
        "nul_surrogate",
        "header_quirk",
        "copied_header",
    }
    assert all(r.pans for r in first if r.kind.startswith("card_number"))


def test_a_copied_header_is_believed_only_alone_and_only_where_orderflow_writes() -> None:
    placed = _envelope("OrderPlaced", example_data("OrderPlaced"))
    copied = (("event_type", b"PaymentCaptured"),)
    handles = frozenset({"OrderPlaced"})

    assert expected_outcome(_record(placed, headers=copied), handles) is Outcome.SKIPPED
    doubled = (*copied, ("event_type", b"OrderPlaced"))
    assert expected_outcome(_record(placed, headers=doubled), handles) is Outcome.HANDLED
    external = _record(placed, topic="warehouse.events", headers=copied)
    assert expected_outcome(external, handles) is Outcome.HANDLED
    carded = _record(placed.replace(b'"producer"', b'"note":"4111111111111111","producer"'))
    assert (
        expected_outcome(dataclasses.replace(carded, headers=copied), handles)
        is Outcome.CARD_REFUSED
    ), "screened whatever type it claims to be"
