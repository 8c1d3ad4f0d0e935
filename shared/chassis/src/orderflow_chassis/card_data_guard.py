"""Card data never enters a service: every record is screened before it is decoded.

``CardDataGuard()(record)`` looks at a Kafka record's key, header names and values, and value.
Anything that is a card number by the rules of :mod:`orderflow_contracts.card_data` is refused
with ``PermanentError`` (``card_data_refused``), whose ``redacted_payload`` is the value with
every card number replaced by ``[REDACTED-PAN]``; the dead letter redacts key, headers and
reason itself (:mod:`orderflow_chassis.dead_letters`).

What is checked, and with which rule:

* JSON values: every string, every object key, and every number (``4111111111111111`` and
  ``4111111111111111.0`` are card numbers as much as ``"4111111111111111"``). Values of id
  fields (:data:`~orderflow_contracts.card_data.ID_FIELDS`) use the identifier rule, all else
  the free-text rule. JSON is read decoded, so digits behind ``\\u0034`` escapes are caught
  (the dead letter then holds the re-encoded, redacted document).
* Bytes that are not JSON: scanned as they are, free-text rule.
* The key: the identifier rule (it is the aggregate id). Header names and values: free text.

Bounded and iterative: a value larger than ``max_bytes`` (default 2 MiB, twice Kafka's default
record limit) is refused as ``payload_too_large``, JSON nested deeper than ``max_depth``
(default 64) as ``payload_too_deep`` — both checked on the bytes before ``json.loads`` runs, so
no input can exhaust the stack — each with the value redacted at the byte level. The walk over
the decoded document uses an explicit stack. Only ``PermanentError`` ever leaves the guard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from orderflow_contracts.card_data import (
    ID_FIELDS,
    REDACTED,
    contains_card_number,
    contains_card_number_in_bytes,
    has_digit_run,
    may_hold_card_number,
    redact_card_numbers,
    redact_card_numbers_in_bytes,
)

from orderflow_chassis.errors import PermanentError

CARD_DATA_REFUSED: Final = "card_data_refused"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
PAYLOAD_TOO_DEEP: Final = "payload_too_deep"
PAYLOAD_UNSCREENABLE: Final = "payload_unscreenable"

# A JSON number in exponent form (``4.111111111111111e15``): its value can be a card number
# that no digit run in the bytes shows. A number token starts the document or follows ``:``,
# ``[`` or ``,`` (JSON whitespace between), so hex in ids ("5f0c6a8e-3c1b") does not count:
# most events carry a UUID that would otherwise send them all through the walk. The start of
# the document is matched apart: with ``^`` in an alternation the regex engine could not skip
# ahead to the next separator, and the search cost three times as much.
_EXPONENT_AT_START: Final = re.compile(rb"[ \t\n\r]*-?[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]")
_EXPONENT_AFTER_SEPARATOR: Final = re.compile(
    rb"[:\[,][ \t\n\r]*-?[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]"
)


# A first pass for the search after separators, on a mapped copy: whitespace and "-" are
# deleted, digits become "0", "e" and "E" become "e", the separators ":", "[" and "," become
# "s", "." stays and every other byte becomes "x". Every match of the search then reads as
# s0...[.0...]e, which the mapped copy rarely holds; the search itself ran a regex attempt at
# every separator of the document and cost four times as much.
_EXPONENT_MARKS: Final = bytes(
    0x30 if byte in b"0123456789"
    else 0x65 if byte in b"eE"
    else 0x73 if byte in b":[,"
    else 0x2E if byte == 0x2E
    else 0x78
    for byte in range(256)
)  # fmt: skip
_EXPONENT_MARKED: Final = re.compile(rb"s0+\.?0*e")


def _has_exponent_number(raw: bytes) -> bool:
    if _EXPONENT_AT_START.match(raw):
        return True
    marked = raw.translate(_EXPONENT_MARKS, b" \t\n\r-")
    return _EXPONENT_MARKED.search(marked) is not None and bool(
        _EXPONENT_AFTER_SEPARATOR.search(raw)
    )


DEFAULT_MAX_BYTES: Final = 2 * 1024 * 1024
DEFAULT_MAX_DEPTH: Final = 64

_REFUSED_REASON: Final = (
    "the message contains what looks like a card number (13-19 digits passing the Luhn check) "
    "in its {where}; card data must never be sent, only provider tokens. The digits were "
    "redacted from this dead letter."
)


class InboundRecord(Protocol):
    """What the guard reads of a Kafka record; aiokafka's ``ConsumerRecord`` has it."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True)
class ScreeningLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


class CardDataGuard:
    """Refuses a record that carries a card number anywhere (see the module docstring)."""

    def __init__(self, limits: ScreeningLimits | None = None) -> None:
        self.limits = limits or ScreeningLimits()

    def __call__(self, record: InboundRecord) -> None:
        value = b""
        try:
            value = record.value or b""
            screen_payload(value, self.limits)
            where = _card_outside_the_value(record)
        except PermanentError:
            raise
        except Exception as error:  # a bug here must refuse the record, never block it
            raise PermanentError(
                PAYLOAD_UNSCREENABLE,
                f"the card-data screening failed ({type(error).__name__}); refused unread",
                redacted_payload=redact_card_numbers_in_bytes(value),
            ) from None
        if where is not None:
            raise PermanentError(
                CARD_DATA_REFUSED,
                _REFUSED_REASON.format(where=where),
                redacted_payload=redact_card_numbers_in_bytes(value),
            )


def _card_outside_the_value(record: InboundRecord) -> str | None:
    headers = record.headers or ()
    # One first pass over the key and every header name and value, joined by a byte that no
    # run holds (so each keeps its own runs): no run in any of them, no card number either.
    # Most records end here, for a fifth of what checking each of them costs.
    parts = [record.key or b""]
    for name, header_value in headers:
        parts += (name.encode("utf-8", "surrogatepass"), header_value or b"")
    if not has_digit_run(b"\n".join(parts)):
        return None
    if record.key is not None and _key_holds_card_number(record.key):
        return "Kafka key"
    for name, header_value in headers:
        if contains_card_number(name):
            return "header names"
        if header_value and contains_card_number_in_bytes(header_value):
            return "header values"
    return None


def _key_holds_card_number(key: bytes) -> bool:
    try:
        return contains_card_number(key.decode("utf-8"), identifier=True)
    except UnicodeDecodeError:
        return contains_card_number_in_bytes(key)


def screen_payload(raw: bytes, limits: ScreeningLimits | None = None) -> None:
    """Raise ``PermanentError`` (with a redacted copy) if ``raw`` carries a card number or is
    too large or too deeply nested to screen; for Kafka values and HTTP bodies alike."""
    limits = limits or ScreeningLimits()
    if len(raw) > limits.max_bytes:
        raise PermanentError(
            PAYLOAD_TOO_LARGE,
            f"the message is larger than {limits.max_bytes} bytes, the most that is screened "
            "for card data; refused unread",
            redacted_payload=redact_card_numbers_in_bytes(raw),
        )
    if _nesting_exceeds(raw, limits.max_depth):
        raise PermanentError(
            PAYLOAD_TOO_DEEP,
            f"the message nests JSON deeper than {limits.max_depth} levels, the most that is "
            "screened for card data; refused unread",
            redacted_payload=redact_card_numbers_in_bytes(raw),
        )
    if not (may_hold_card_number(raw) or _has_exponent_number(raw)):
        # No digit run a card number could be, written plainly, escaped, or as a number in
        # exponent form (read by value below): nothing to walk. Most events end here.
        return
    numbers = _NumberTokens()
    try:
        document = json.loads(raw, parse_int=numbers.integer, parse_float=numbers.decimal)
    except RecursionError:  # nesting the byte-level count above did not see (UTF-16, say)
        raise PermanentError(
            PAYLOAD_TOO_DEEP,
            "the message nests JSON too deeply to be screened for card data; refused unread",
            redacted_payload=redact_card_numbers_in_bytes(raw),
        ) from None
    except ValueError:  # not JSON (the consumer dead-letters it as malformed_json)
        if contains_card_number_in_bytes(raw):
            raise PermanentError(
                CARD_DATA_REFUSED,
                _REFUSED_REASON.format(where="value"),
                redacted_payload=redact_card_numbers_in_bytes(raw),
            ) from None
        return
    if numbers.card_found or _document_holds_card_number(document):
        cleaned = json.dumps(_redacted_document(document), separators=(",", ":"))
        raise PermanentError(
            CARD_DATA_REFUSED,
            _REFUSED_REASON.format(where="value"),
            redacted_payload=cleaned.encode(),
        )


# ------------------------------------------------------------------------------ nesting depth

# A string, or an unterminated one running to the end: every match attempt succeeds, so the
# pass is linear even for adversarial input like '"\\"\\"\\...'.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\[\s\S]?[^"\\]*)*(?:"|\Z)')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def _nesting_exceeds(raw: bytes, max_depth: int) -> bool:
    """Whether ``raw`` opens more than ``max_depth`` nested JSON arrays/objects.

    Strings are cut out (brackets in them do not nest), then only brackets are kept; C-speed
    passes peel innermost pairs, and what remains (deep or unbalanced) is counted exactly.
    """
    if raw.count(b"{") + raw.count(b"[") <= max_depth:  # fewer openers than the limit
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, delete=_NOT_A_BRACKET)
    peeled = 0
    while peeled < max_depth and brackets:
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            break
        brackets, peeled = shorter, peeled + 1
    depth = 0
    for byte in brackets:
        depth = depth + 1 if byte in _OPENERS else max(depth - 1, 0)
        if depth + peeled > max_depth:
            return True
    return False


# ------------------------------------------------------------------------------ JSON numbers


class _NumberTokens:
    """``json.loads`` hooks: check number tokens as written (exact, before float rounding)."""

    def __init__(self) -> None:
        self.card_found = False

    def integer(self, token: str) -> int | str:
        self._check(token)
        # Python refuses to parse ints of more than 4300 digits; such a number is no card.
        return int(token) if len(token) <= 4000 else token

    def decimal(self, token: str) -> float:
        self._check(token)
        return float(token)

    def _check(self, token: str) -> None:
        if len(token) < 13 or self.card_found:
            return
        if contains_card_number(_integral_digits(token) or ""):
            self.card_found = True


def _integral_digits(token: str) -> str | None:
    """The integral part of a number token of 13-19 digits (``4.1e15`` -> ``4100...0``)."""
    try:
        number = Decimal(token)
    except InvalidOperation:
        return None
    if not number.is_finite() or not 12 <= number.adjusted() <= 18:
        return None
    return str(abs(int(number)))


# ------------------------------------------------------------------------------ the walk


def _document_holds_card_number(document: Any) -> bool:
    """Whether a string or key anywhere in ``document`` holds a card number. Iterative; free
    text is joined and scanned in one pass (a separator keeps each string's own edges)."""
    free_text: list[str] = []
    identifiers: list[str] = []
    pending: list[tuple[Any, bool]] = [(document, False)]
    while pending:
        item, is_identifier = pending.pop()
        if isinstance(item, str):
            (identifiers if is_identifier else free_text).append(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                free_text.append(key)
                pending.append((child, key in ID_FIELDS))
        elif isinstance(item, list):
            pending.extend((child, False) for child in item)
    return contains_card_number("\n".join(free_text)) or contains_card_number(
        "\n".join(identifiers), identifier=True
    )


def _redacted_document(document: Any) -> Any:
    """A copy of ``document`` with card numbers replaced, built without recursion."""
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any, bool]] = [(document, root, 0, False)]
    while pending:
        item, parent, slot, is_identifier = pending.pop()
        if isinstance(item, dict):
            copy: Any = {}
            for key, child in item.items():
                new_key = redact_card_numbers(key)
                copy[new_key] = None
                pending.append((child, copy, new_key, key in ID_FIELDS))
        elif isinstance(item, list):
            copy = [None] * len(item)
            pending.extend((child, copy, index, False) for index, child in enumerate(item))
        elif isinstance(item, str):
            copy = redact_card_numbers(item, identifier=is_identifier)
        elif isinstance(item, int | float) and not isinstance(item, bool) and abs(item) >= 1e12:
            # A number of 13+ digits in a refused message: never worth keeping as written.
            copy = REDACTED
        else:
            copy = item
        parent[slot] = copy
    return root[0]
