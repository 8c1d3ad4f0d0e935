"""Messages are parsed by jiter, and by the stdlib decoder only when jiter refuses: the result
must be the stdlib decoder's (with the contract's refusals: duplicate keys, NaN, Infinity, a
BOM), value for value and refusal for refusal. Random damage to real envelopes and a list of
known edge cases check it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from orderflow_contracts import Envelope, MalformedEnvelope
from orderflow_contracts.envelope import _DECODER, _parse_json
from orderflow_contracts.examples import example_event, example_types

EDGE_CASES = [
    b"01", b"-0", b"-", b"1.", b".5", b"1e", b"1E+2", b"1e-2", b"1e400", b"-1e400", b"1.5e-400",
    b"1" * 4301, b"1" * 4299, b"0." + b"1" * 5000, b"NaN", b"Infinity", b"-Infinity", b"nan",
    b"true", b"tru", b"null ", b" \t\n\r{} ", b"{}\x0c", b"{}\x00", b'"\\u0000"', b'"\\ud800"',
    b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"', b'"\\U0041"', b'"\\x41"', b'"\\/"', b'"a\tb"',
    b'"a\x7fb"', b'{"a":1,"a":1}', b'{"\\u0061":1,"a":2}', b'{"a":{"b":[{"c":1,"c":2}]}}',
    b'[1,]', b'{"a":1,}', b"[" * 300 + b"]" * 300, b"[" * 30 + b"]" * 30, b'{"a" :1}',
    b"\xef\xbb\xbf{}", b"''", b'"\xc3\xa9"', b"[1 2]", b"{\"a\":1}{}", b"",
]  # fmt: skip


def _outcome(parse: Any, *args: Any) -> str:
    try:
        # repr: the same types (1 is not 1.0), keys in the same order, floats to the last bit
        return "value " + repr(parse(*args))
    except (ValueError, RecursionError) as refused:
        return f"refused {type(refused).__name__}: {refused}"


def _stdlib(text: str) -> Any:
    if text.startswith("\ufeff"):
        return json.loads(text)  # refuses a BOM with the message the envelope keeps
    return _DECODER.decode(text)


def _assert_parsed_as_the_stdlib_parses(raw: bytes) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return  # refused before either parser runs
    assert _outcome(_parse_json, raw, text) == _outcome(_stdlib, text), raw


@pytest.mark.parametrize("raw", EDGE_CASES)
def test_edge_cases_are_parsed_as_the_stdlib_parses_them(raw: bytes) -> None:
    _assert_parsed_as_the_stdlib_parses(raw)


def test_damaged_envelopes_are_parsed_as_the_stdlib_parses_them() -> None:
    rng = random.Random(3)
    envelopes = [
        Envelope.wrap(example_event(t), producer="cart", correlation_id="j").to_bytes()
        for t in example_types()
    ]
    pieces = [b'"', b"\\", b"\\u", b"0", b"9", b"e", b"-", b".", b",", b":", b"{", b"}"]
    pieces += [b"[", b"]", b" ", b"\x00", b"\xff", b"NaN", b"null", b"\\ud800", b'"a":1']
    accepted = 0
    for _ in range(20_000):
        raw = bytearray(rng.choice(envelopes))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw))
            if rng.random() < 0.5:
                del raw[at : at + rng.randint(1, 3)]
            else:
                raw[at:at] = rng.choice(pieces)
        accepted += (
            _outcome(_parse_json, bytes(raw), bytes(raw).decode("utf-8", "replace"))[0] == "v"
        )
        _assert_parsed_as_the_stdlib_parses(bytes(raw))
    assert accepted > 500, "the damage must leave many documents valid to prove anything"


@pytest.mark.parametrize(
    ("raw", "in_reason"),
    [
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": 1', "message is not JSON: Expecting ',' delimiter"),
    ],
)
def test_what_jiter_refuses_is_refused_in_the_stdlib_words(raw: bytes, in_reason: str) -> None:
    with pytest.raises(MalformedEnvelope) as refused:
        Envelope.from_bytes(raw)
    assert in_reason in refused.value.reason


def test_a_lone_surrogate_jiter_refuses_is_read_as_the_stdlib_reads_it() -> None:
    # The contract refuses such text later, with its own reason code (invalid_event_data).
    assert _parse_json(b'"\\ud800"', '"\\ud800"') == "\ud800"
    assert json.loads('"\\ud800"') == "\ud800"
