"""Reading a JSON document for card data: its nesting (bounded before it is parsed), its numbers
as written and by value, and a walk over every string, key and pair, duplicates included, with
every array's elements read as a list and every value as a piece of a card number cut up
(:mod:`orderflow_chassis.card_data_lists`); and the redacted copy a refusal keeps. Used by
:mod:`orderflow_chassis.card_data_guard`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, Final, get_args

from orderflow_contracts.card_data import (
    ID_FIELDS,
    REDACTED,
    contains_card_number,
    redact_card_numbers,
)
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.registry import ALL_EVENTS
from pydantic import BaseModel

from orderflow_chassis.card_data_lists import (
    APART,
    BREAK,
    PIECES_DEPTH,
    WrittenFloat,
    comma_list,
    comma_listed_groups,
    spelled_numbers,
)
from orderflow_chassis.card_data_names import REDACTED_FIELD, names_card_data, normalised_name

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


def has_exponent_number(raw: bytes) -> bool:
    if _EXPONENT_AT_START.match(raw):
        return True
    marked = raw.translate(_EXPONENT_MARKS, b" \t\n\r-")
    return _EXPONENT_MARKED.search(marked) is not None and bool(
        _EXPONENT_AFTER_SEPARATOR.search(raw)
    )


# ------------------------------------------------------------------------------ nesting depth

# A string, or an unterminated one running to the end: every match attempt succeeds, so the
# pass is linear even for adversarial input like '"\\"\\"\\...'.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\[\s\S]?[^"\\]*)*(?:"|\Z)')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def nesting_exceeds(raw: bytes, max_depth: int) -> bool:
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


class NumberTokens:
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
        if self._holds_card_number(token):
            return REDACTED
        number = WrittenFloat(token)
        number.token = token
        return number

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


def card_data_in(document: Any) -> tuple[str | None, bool]:
    """The normalised name of a key in ``document`` that names card data (or None), and
    whether a string or key anywhere in it holds a card number (:func:`spelled_slots` reads
    one cut up across its values). Objects are tuples of their pairs (duplicates kept).
    Iterative; free text is joined and scanned in one pass (:data:`APART` keeps each string's
    own edges)."""
    free_text: list[str] = []
    identifiers: list[str] = []
    card_field: str | None = None
    pending: list[tuple[Any, bool]] = [(document, False)]  # each value, and whether an id's
    while pending:
        item, is_identifier = pending.pop()
        if isinstance(item, str):
            (identifiers if is_identifier else free_text).append(item)
        elif isinstance(item, tuple):
            for key, child in item:
                free_text.append(key)
                if card_field is None and names_card_data(key):
                    card_field = normalised_name(key).decode()
                pending.append((child, key in ID_FIELDS))
        elif isinstance(item, list):
            pending.extend((child, False) for child in item)
            if len(item) > 1:
                free_text.append(comma_list(item))
    holds_number = contains_card_number(APART.join(free_text)) or contains_card_number(
        APART.join(identifiers), identifier=True
    )
    return card_field, holds_number


def spelled_slots(document: Any) -> set[tuple[int, int]]:
    """Where the pieces of a card number cut up across a document's values stand, as the
    ``id()`` of the array or object (a tuple of pairs) that holds each and its place there.

    A document's pieces are its values that are no array or object, in the order written,
    whatever arrays and objects hold them; keys are passed over. So a card number typed into
    four boxes (``{"n1": "4111", "n2": "1111", ...}``), listed (``[4, 1, 1, 1, ...]``) or
    both (``[{"g": "4111"}, {"g": "1111"}, ...]``) is found. The value of a field the
    contract defines ends a run (:data:`CONTRACT_FIELDS`): its type says what it holds, and
    a cart line's all-digit SKU, its quantity and the subtotal beside it are 13 digits often
    enough. See :func:`~orderflow_chassis.card_data_lists.spelled_numbers`."""
    if not isinstance(document, list | tuple):
        return set()  # a lone value is free text
    found = spelled_numbers([value for _, _, value in _values_in_order(document)], ())
    if not found:
        return set()
    return {
        (id(holder), place)
        for index, (holder, place, _) in enumerate(_values_in_order(document))
        if index in found
    }


def _contract_fields() -> frozenset[str]:
    """The name of every field of the envelope and of every event's data, at any depth."""
    names: set[str] = set()
    pending: list[Any] = [Envelope, *ALL_EVENTS]
    while pending:
        model = pending.pop()
        for name, field in model.model_fields.items():
            names.add(field.alias or name)
            types = [field.annotation]
            while types:
                annotation = types.pop()
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    pending.append(annotation)
                types.extend(get_args(annotation))
    return frozenset(names)


CONTRACT_FIELDS: Final = _contract_fields() | ID_FIELDS
"""Every field name the contract defines, and every id field's: a value of one is no piece of a
card number cut up across values (see :func:`spelled_slots`)."""


def spells_card_number(value: Any) -> bool:
    """Whether a Python value (dicts, lists and tuples of JSON's scalars) spells a card number
    cut up across its values, as :func:`spelled_slots` reads the same value as JSON; True for
    one nested too deeply to read."""
    if not isinstance(value, dict | list | tuple):
        return False
    try:
        document = json.loads(json.dumps(value, default=str), object_pairs_hook=tuple)
    except (TypeError, ValueError):  # keys that are no strings, say: read as text instead
        return False
    except RecursionError:  # too deep to read: taken to hold one
        return True
    return bool(spelled_slots(document))


def _values_in_order(document: list[Any] | tuple[Any, ...]) -> Iterator[tuple[Any, int, Any]]:
    """Every value of ``document`` that is no array or object, in the order written, with the
    array or object that holds it and its place there; a contract field's value as ``BREAK``.
    Iterative: a generator a level would resume once per level for each value."""
    levels = [(document, enumerate(document))]
    while levels:
        holder, places = levels[-1]
        for place, entry in places:
            defined = False
            if isinstance(holder, tuple):
                key, entry = entry
                defined = key in CONTRACT_FIELDS
            if not isinstance(entry, list | tuple):
                yield holder, place, BREAK if defined else entry
            elif len(levels) < PIECES_DEPTH:
                levels.append((entry, enumerate(entry)))
                break
            else:
                yield holder, place, BREAK
        else:
            levels.pop()


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


def redacted_document(document: Any, spelled: set[tuple[int, int]]) -> Any:
    """A copy of ``document`` with card numbers and card-data fields' values replaced, built
    without recursion; every pair of an object is kept, duplicates included. ``spelled`` is
    the document's :func:`spelled_slots`."""
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any, bool]] = [(document, root, 0, False)]
    while pending:
        item, parent, slot, is_identifier = pending.pop()
        if isinstance(item, tuple):
            copy: Any = _Pairs([redact_card_numbers(key) for key, _ in item])
            for index, (key, child) in enumerate(item):
                if names_card_data(key):
                    copy.ordered_values[index] = REDACTED_FIELD
                elif (id(item), index) in spelled:
                    copy.ordered_values[index] = REDACTED
                else:
                    pending.append((child, copy.ordered_values, index, key in ID_FIELDS))
        elif isinstance(item, list):
            copy = [None] * len(item)
            groups = comma_listed_groups(item)
            for index, child in enumerate(item):
                if index in groups or (id(item), index) in spelled:
                    copy[index] = REDACTED
                else:
                    pending.append((child, copy, index, False))
        elif isinstance(item, str):
            copy = redact_card_numbers(item, identifier=is_identifier)
        elif isinstance(item, int | float) and not isinstance(item, bool) and abs(item) >= 1e12:
            # A number of 13+ digits in a refused message: never worth keeping as written.
            copy = REDACTED
        else:
            copy = item
        parent[slot] = copy
    return root[0]
