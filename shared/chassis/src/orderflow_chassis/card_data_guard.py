"""Card data never enters a service: every record is screened before it is decoded.

``CardDataGuard()(record)`` looks at a Kafka record's key, header names and values, and value.
Anything that is card data is refused with ``PermanentError`` (``card_data_refused``, raised as
:class:`CardDataRefused`), whose ``redacted_payload`` is the value with every card number
replaced by ``[REDACTED-PAN]`` and every card-data field's value by ``[REDACTED-CARD-DATA]``;
the dead letter redacts key, headers and reason itself (:mod:`orderflow_chassis.dead_letters`).

What is card data, and with which rule:

* A card number (:mod:`orderflow_contracts.card_data`) in a JSON value: every string, every
  object key, and every number as written (``4111111111111111``, ``4111111111111111.0`` and
  ``12.4111111111111111`` hold one as much as ``"4111111111111111"``) and by value
  (``4.111111111111111e15``). Values of id fields
  (:data:`~orderflow_contracts.card_data.ID_FIELDS`) use the identifier rule, all else the
  free-text rule. JSON is read decoded, so digits behind ``\\u0034`` escapes are caught (the
  dead letter then holds the re-encoded, redacted document), and every key/value pair is read,
  duplicates included: a parser keeping the last of two equal keys must not hide the first.
* A JSON object key or Kafka header name naming card data (:func:`names_card_data`: ``cvv``,
  ``securityCode``, ``card_number``, ``pan``...): a security code has no shape to look for, so
  its field is refused by name, whatever its value. Other unknown fields are kept (forward
  compatibility, decision 16).
* Bytes that are not JSON: scanned as they are, free-text rule.
* The key: the identifier rule (it is the aggregate id). Header names and values: free text.

Bounded and iterative: a value larger than ``max_bytes`` (default 2 MiB, twice Kafka's default
record limit) is refused as ``payload_too_large``, JSON nested deeper than ``max_depth``
(default 64) as ``payload_too_deep`` — both checked on the bytes before ``json.loads`` runs, so
no input can exhaust the stack. The walk over the decoded document uses an explicit stack. Only
``PermanentError`` ever leaves the guard.

What could not be read as JSON is redacted at the byte level only where that finds every card
number as written (:func:`screens_as_bytes`: UTF-8 text with no NUL byte, no ``\\u`` escape and
no card number written with other escapes, ``4111\\n1111...``); otherwise the copy is
:data:`WITHHELD`, never the bytes (:func:`kept_copy`).
"""

from __future__ import annotations

import functools
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

REDACTED_FIELD: Final = "[REDACTED-CARD-DATA]"
WITHHELD: Final = b"[WITHHELD]"
"""What a dead letter keeps of bytes that could not be screened for card data (see
:func:`kept_copy`)."""

# Field and header names that say "card data" (normalised: ASCII letters and digits, lower
# case): security codes (CVV2, CVC2, Amex CID, CSC...) and card numbers, alone or after a
# "card"/"cc"/"credit"/"debit" qualifier (card_cvv, creditCardNumber). Expiry dates are left
# out: not secret alone, and the contract's own card carries expiry_month and expiry_year.
_CARD_DATA_QUALIFIERS: Final = (
    b"", b"card", b"cc", b"credit", b"debit", b"creditcard", b"debitcard", b"payment",
    b"paymentcard",
)  # fmt: skip
_CARD_DATA_WORDS: Final = (
    b"cvv", b"cvv2", b"cvc", b"cvc2", b"csc", b"securitycode", b"cardverificationvalue",
    b"cardverificationcode", b"cardcode", b"cardnumber", b"pan", b"primaryaccountnumber",
)  # fmt: skip
CARD_DATA_NAMES: Final = frozenset(
    # An "X-" header (``X-Card-Number``) too; but not ``X-CID``, a correlation id's name as
    # often as a card identification number's.
    prefix + qualifier + word
    for prefix in (b"", b"x")
    for qualifier in _CARD_DATA_QUALIFIERS
    for word in _CARD_DATA_WORDS
) | frozenset(qualifier + b"cid" for qualifier in _CARD_DATA_QUALIFIERS)
_NAME_BYTES: Final = bytes(
    byte + 32 if 0x41 <= byte <= 0x5A else byte for byte in range(256)
)  # fmt: skip
_NOT_NAME_BYTES: Final = bytes(
    byte for byte in range(256) if not (chr(byte).isascii() and chr(byte).isalnum())
)
_NOT_QUOTED_NAME_BYTES: Final = _NOT_NAME_BYTES.replace(b'"', b"")
# A JSON escape other than \u: one character of the decoded text, never a letter or a digit
# (\b \f \n \r \t are control characters), though its second byte may be one.
_SHORT_ESCAPE: Final = re.compile(rb"\\[^u]")


def _trie_pattern(words: frozenset[bytes]) -> bytes:
    """A regex matching exactly ``words``, shaped as a trie: an attempt fails at its first
    byte no word has there. (The words as one alternation are tried one by one at every
    attempt: over an event's strings, that search cost several times as much.)"""
    trie: dict[int, Any] = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[-1] = {}  # a word ends here

    def pattern(node: dict[int, Any]) -> bytes:  # recursion: as deep as the longest word
        branches = [
            re.escape(bytes([byte])) + pattern(child)
            for byte, child in sorted(node.items())
            if byte != -1
        ]
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        return b"(?:" + body + b")?" if -1 in node else body

    return pattern(trie)


# Such a name as a JSON string, in a copy of the document mapped as names are normalised but
# keeping quotes: once escapes are removed, a quote in JSON only ever starts or ends a string.
_CARD_DATA_NAME_QUOTED: Final = re.compile(b'"' + _trie_pattern(CARD_DATA_NAMES) + b'"')


def names_card_data(name: str) -> bool:
    """Whether a JSON key or header name names card data: lower-cased, with everything but
    ASCII letters and digits removed, it is one of :data:`CARD_DATA_NAMES`."""
    return _normalised(name) in CARD_DATA_NAMES


@functools.lru_cache(maxsize=1024)  # every record's header names, mostly the same few
def _normalised(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass").translate(_NAME_BYTES, _NOT_NAME_BYTES)


def _may_name_card_data(raw: bytes) -> bool:
    """False only when no key of the JSON document ``raw`` names card data. A first pass on a
    copy where each string reads as its normalised name in quotes; values and strings that
    merely look like keys pass it too, and are decided by the walk."""
    if b"\\u" in raw or b"\x00" in raw:  # an escape could spell any letter; NUL: UTF-16 or 32
        return True
    if b"\\" in raw:
        raw = _SHORT_ESCAPE.sub(b"", raw)
    marked = raw.translate(_NAME_BYTES, _NOT_QUOTED_NAME_BYTES)
    return _CARD_DATA_NAME_QUOTED.search(marked) is not None


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
_FIELD_REFUSED_REASON: Final = (
    "the message has a {where} named for card data ({name}); card numbers and security codes "
    "must never be sent, only provider tokens. Its value was redacted from this dead letter."
)


class CardDataRefused(PermanentError):
    """``card_data_refused``; ``card_field`` is the normalised name of the card-data field
    that was the cause, None when it was a card number."""

    def __init__(
        self, reason: str, *, redacted_payload: bytes, card_field: str | None = None
    ) -> None:
        super().__init__(CARD_DATA_REFUSED, reason, redacted_payload=redacted_payload)
        self.card_field = card_field


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
    """Refuses a record that carries card data anywhere (see the module docstring)."""

    def __init__(self, limits: ScreeningLimits | None = None) -> None:
        self.limits = limits or ScreeningLimits()

    def __call__(self, record: InboundRecord) -> None:
        value = b""
        try:
            value = record.value or b""
            read_as_json = _screen(value, self.limits)
            named = _card_data_header_name(record)
            where = None if named is not None else _card_outside_the_value(record)
        except PermanentError:
            raise
        except Exception as error:  # a bug here must refuse the record, never block it
            raise PermanentError(
                PAYLOAD_UNSCREENABLE,
                f"the card-data screening failed ({type(error).__name__}); refused unread",
                redacted_payload=_unscreened_copy(value),
            ) from None
        if named is None and where is None:
            return
        # The value passed the screen: it is kept as it is where that verdict covers it.
        kept = value if read_as_json or screens_as_bytes(value) else WITHHELD
        if named is not None:
            reason = _FIELD_REFUSED_REASON.format(where="header", name=named)
            raise CardDataRefused(reason, redacted_payload=kept, card_field=named)
        raise CardDataRefused(_REFUSED_REASON.format(where=where), redacted_payload=kept)


def _card_data_header_name(record: InboundRecord) -> str | None:
    """The normalised name of the first header named for card data (``cvv``...), or None."""
    for name, _ in record.headers or ():
        if names_card_data(name):
            return _normalised(name).decode()
    return None


# What texts scanned in one pass are joined by: no letter or digit (each text keeps its own
# edges) and no separator (``\n`` is one: four strings "4111", "1111"... are no card number).
_APART: Final = "\x00"


def _card_outside_the_value(record: InboundRecord) -> str | None:
    headers = record.headers or ()
    # One first pass over the key and every header name and value, joined by a byte that no
    # run holds (so each keeps its own runs): no run in any of them, no card number either.
    # Most records end here, for a fifth of what checking each of them costs.
    parts = [record.key or b""]
    for name, header_value in headers:
        parts += (name.encode("utf-8", "surrogatepass"), header_value or b"")
    if not has_digit_run(_APART.encode().join(parts)):
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
    """Raise ``PermanentError`` (with a redacted copy) if ``raw`` carries card data or is too
    large or too deeply nested to screen; for Kafka values and HTTP bodies alike."""
    _screen(raw, limits or ScreeningLimits())


def kept_copy(raw: bytes, limits: ScreeningLimits | None = None) -> bytes:
    """``raw`` as a dead letter may keep it: itself when the screen finds no card data in it,
    the redacted copy when it does, and :data:`WITHHELD` when neither the screen nor a
    byte-level redaction can be trusted with it (not JSON, too large or too deep, and not
    text that :func:`screens_as_bytes`)."""
    try:
        read_as_json = _screen(raw, limits or ScreeningLimits())
    except PermanentError as refused:
        return WITHHELD if refused.redacted_payload is None else refused.redacted_payload
    except Exception:  # bounded, but never trusted: what cannot be screened is not kept
        return WITHHELD
    return raw if read_as_json or screens_as_bytes(raw) else WITHHELD


def screens_as_bytes(raw: bytes) -> bool:
    """Whether a byte-level scan of ``raw`` sees every card number in it as written: UTF-8 text
    (so digits are ASCII bytes), with no NUL byte (UTF-16 and UTF-32 put one beside every
    ASCII digit), no ``\\u`` escape (JSON can spell digits with them), and nothing the byte-level
    redaction leaves that reads as a card number once JSON's other escapes are read
    (``\\n \\r \\t \\/`` write separators: a document cut short may hold ``4111\\n1111\\n...``)."""
    if b"\x00" in raw or b"\\u" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if b"\\" in raw:  # what the byte-level redaction leaves must hold none, escapes read
        unescaped = _SHORT_ESCAPE.sub(_read_escape, redact_card_numbers_in_bytes(raw))
        return not contains_card_number_in_bytes(unescaped)
    return True


_ESCAPED: Final = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _read_escape(escape: re.Match[bytes]) -> bytes:
    """A short JSON escape as JSON reads it (``\\"``, ``\\\\``, ``\\/``: the character itself)."""
    return _ESCAPED.get(escape.group()[1:], escape.group()[1:])


def _unscreened_copy(raw: bytes) -> bytes:
    """What a refusal keeps of ``raw`` when it could not be read as JSON: redacted at the byte
    level when that finds every card number, else :data:`WITHHELD`."""
    return redact_card_numbers_in_bytes(raw) if screens_as_bytes(raw) else WITHHELD


def _screen(raw: bytes, limits: ScreeningLimits) -> bool:
    """:func:`screen_payload`; True when ``raw`` was read as JSON, False when the verdict was
    reached on its bytes alone (no candidate anywhere, or not JSON)."""
    if len(raw) > limits.max_bytes:
        raise PermanentError(
            PAYLOAD_TOO_LARGE,
            f"the message is larger than {limits.max_bytes} bytes, the most that is screened "
            "for card data; refused unread",
            redacted_payload=_unscreened_copy(raw),
        )
    if _nesting_exceeds(raw, limits.max_depth):
        raise PermanentError(
            PAYLOAD_TOO_DEEP,
            f"the message nests JSON deeper than {limits.max_depth} levels, the most that is "
            "screened for card data; refused unread",
            redacted_payload=_unscreened_copy(raw),
        )
    if not (may_hold_card_number(raw) or _has_exponent_number(raw) or _may_name_card_data(raw)):
        # No digit run a card number could be, written plainly, escaped, or as a number in
        # exponent form (read by value below), and no key naming card data: nothing to walk.
        # Most events end here.
        return False
    numbers = _NumberTokens()
    try:
        # Every pair of every object, as a tuple: json.loads would keep only the last of two
        # equal keys, and a card number in the first would pass unseen (the envelope parser
        # refuses such a document, and its dead letter kept the original bytes).
        document = json.loads(
            raw, parse_int=numbers.integer, parse_float=numbers.decimal, object_pairs_hook=tuple
        )
    except RecursionError:  # nesting the byte-level count above did not see (UTF-16, say)
        raise PermanentError(
            PAYLOAD_TOO_DEEP,
            "the message nests JSON too deeply to be screened for card data; refused unread",
            redacted_payload=_unscreened_copy(raw),
        ) from None
    except ValueError:  # not JSON (the consumer dead-letters it as malformed_json)
        if contains_card_number_in_bytes(raw):
            reason = _REFUSED_REASON.format(where="value")
            raise CardDataRefused(reason, redacted_payload=_unscreened_copy(raw)) from None
        return False
    card_field, holds_number = _card_data_in(document)
    if card_field is None and not (numbers.card_found or holds_number):
        return True
    cleaned = json.dumps(_redacted_document(document), separators=(",", ":")).encode()
    if card_field is not None:
        reason = _FIELD_REFUSED_REASON.format(where="field", name=card_field)
        raise CardDataRefused(reason, redacted_payload=cleaned, card_field=card_field)
    raise CardDataRefused(_REFUSED_REASON.format(where="value"), redacted_payload=cleaned)


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
    """``json.loads`` hooks: check number tokens as written (exact, before float rounding). A
    token holding a card number is read as ``[REDACTED-PAN]``: the redacted copy must not
    write its float back (``12.4111111111111111`` would be ``12.411111111111111``)."""

    def __init__(self) -> None:
        self.card_found = False

    def integer(self, token: str) -> int | str:
        if self._holds_card_number(token):
            return REDACTED
        # Python refuses to parse ints of more than 4300 digits; such a number is no card.
        return int(token) if len(token) <= 4000 else token

    def decimal(self, token: str) -> float | str:
        return REDACTED if self._holds_card_number(token) else float(token)

    def _holds_card_number(self, token: str) -> bool:
        if len(token) < 13:
            return False
        # As written (digits after the point too: 12.4111111111111111), and by value.
        if contains_card_number(token) or contains_card_number(_integral_digits(token) or ""):
            self.card_found = True
            return True
        return False


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


def _card_data_in(document: Any) -> tuple[str | None, bool]:
    """The normalised name of a key in ``document`` that names card data (or None), and
    whether a string or key anywhere in it holds a card number. Objects are tuples of their
    pairs (duplicates kept). Iterative; free text is joined and scanned in one pass
    (:data:`_APART` keeps each string's own edges)."""
    free_text: list[str] = []
    identifiers: list[str] = []
    card_field: str | None = None
    pending: list[tuple[Any, bool]] = [(document, False)]
    while pending:
        item, is_identifier = pending.pop()
        if isinstance(item, str):
            (identifiers if is_identifier else free_text).append(item)
        elif isinstance(item, tuple):
            for key, child in item:
                free_text.append(key)
                if card_field is None and names_card_data(key):
                    card_field = _normalised(key).decode()
                pending.append((child, key in ID_FIELDS))
        elif isinstance(item, list):
            pending.extend((child, False) for child in item)
    holds_number = contains_card_number(_APART.join(free_text)) or contains_card_number(
        _APART.join(identifiers), identifier=True
    )
    return card_field, holds_number


class _Pairs(dict[str, Any]):
    """An object of the redacted copy, written by ``json.dumps`` with every one of its pairs,
    duplicate keys included: the encoder writes what ``items()`` gives (the dict itself only
    tells it whether the object is empty)."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(dict.fromkeys(keys))
        self.ordered_keys = keys
        self.ordered_values: list[Any] = [None] * len(keys)

    def items(self) -> Any:
        return list(zip(self.ordered_keys, self.ordered_values, strict=True))


def _redacted_document(document: Any) -> Any:
    """A copy of ``document`` with card numbers and card-data fields' values replaced, built
    without recursion; every pair of an object is kept, duplicates included."""
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any, bool]] = [(document, root, 0, False)]
    while pending:
        item, parent, slot, is_identifier = pending.pop()
        if isinstance(item, tuple):
            copy: Any = _Pairs([redact_card_numbers(key) for key, _ in item])
            for index, (key, child) in enumerate(item):
                if names_card_data(key):
                    copy.ordered_values[index] = REDACTED_FIELD
                else:
                    pending.append((child, copy.ordered_values, index, key in ID_FIELDS))
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
