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
  ``securityCode``, ``card_number``, ``pan``, ``cvv_code``, ``billing_cvv``, ``ccnum``,
  ``card_no``, fullwidth ``CVV``...): a security code has no shape to look for, so its field is
  refused by name, whatever its value. Other unknown fields are kept (forward compatibility,
  decision 16).
* A card number listed group by group in an array (``["4111", "1111", "1111", "1111"]``,
  ``[4111, 1111, 1111, 1111]``): each array's short strings and integers are also read as one
  comma list, free-text rule (so the groups must be brand-shaped; a list of years is not one).
* A card number cut up across the document's values: an array's elements, an object's values
  (``{"n1": "4111", "n2": "1111", ...}``) or both, in the order written; the value of a field
  the contract defines ends a run (:func:`~orderflow_chassis.card_data_json.spelled_slots`).
* Everywhere, 13 digits written together that are an EAN-13 code are a product code, no card
  number (:mod:`orderflow_contracts.product_codes`).
* Bytes that are not JSON: scanned as they are, free-text rule.
* The key: the identifier rule (it is the aggregate id; ``cart4111111111111111`` is refused).
  Header names and values: free text (a card number broken up, ``4111|1111|1111|1111``, too).

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

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from orderflow_contracts.card_data import (
    contains_card_number,
    contains_card_number_in_bytes,
    has_digit_run,
    may_hold_card_number,
    redact_card_numbers_in_bytes,
)

from orderflow_chassis.card_data_json import (
    NumberTokens,
    card_data_in,
    has_exponent_number,
    nesting_exceeds,
    redacted_document,
    spelled_slots,
)
from orderflow_chassis.card_data_lists import APART, has_listed_digits, holds_listed_card_number
from orderflow_chassis.card_data_names import (
    SHORT_ESCAPE,
    may_name_card_data,
    names_card_data,
    normalised_name,
)
from orderflow_chassis.errors import PermanentError

CARD_DATA_REFUSED: Final = "card_data_refused"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
PAYLOAD_TOO_DEEP: Final = "payload_too_deep"
PAYLOAD_UNSCREENABLE: Final = "payload_unscreenable"

WITHHELD: Final = b"[WITHHELD]"
"""What a dead letter keeps of bytes that could not be screened for card data (see
:func:`kept_copy`)."""

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
        except (PermanentError, MemoryError):  # out of memory: nothing about the record
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
            return normalised_name(name).decode()
    return None


def _card_outside_the_value(record: InboundRecord) -> str | None:
    headers = record.headers or ()
    # One first pass over the key and every header name and value, joined by a byte that no
    # run holds (so each keeps its own runs): no run in any of them, no card number either.
    # Most records end here, for a fifth of what checking each of them costs.
    parts = [record.key or b""]
    for name, header_value in headers:
        parts += (name.encode("utf-8", "surrogatepass"), header_value or b"")
    if not has_digit_run(APART.encode().join(parts)):
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
    ASCII digit), no ``\\u`` escape (JSON can spell digits with them), no card number listed
    group by group (``"4111", "1111", ...``), and nothing the byte-level redaction leaves that
    reads as a card number once JSON's other escapes are read (``\\n \\r \\t \\/`` write
    separators: a document cut short may hold ``4111\\n1111\\n...``)."""
    if b"\x00" in raw or b"\\u" in raw or holds_listed_card_number(raw):
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if b"\\" in raw:  # what the byte-level redaction leaves must hold none, escapes read
        unescaped = SHORT_ESCAPE.sub(_read_escape, redact_card_numbers_in_bytes(raw))
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
    if nesting_exceeds(raw, limits.max_depth):
        raise PermanentError(
            PAYLOAD_TOO_DEEP,
            f"the message nests JSON deeper than {limits.max_depth} levels, the most that is "
            "screened for card data; refused unread",
            redacted_payload=_unscreened_copy(raw),
        )
    if not (
        may_hold_card_number(raw)
        or has_exponent_number(raw)
        or has_listed_digits(raw)
        or may_name_card_data(raw)
    ):
        # No digit run a card number could be, written plainly, escaped, as a number in
        # exponent form (read by value below) or listed group by group in an array, and no key
        # naming card data: nothing to walk. Most events end here.
        return False
    numbers = NumberTokens()
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
        if contains_card_number_in_bytes(raw) or holds_listed_card_number(raw):
            reason = _REFUSED_REASON.format(where="value")
            raise CardDataRefused(reason, redacted_payload=_unscreened_copy(raw)) from None
        return False
    card_field, holds_number = card_data_in(document)
    spelled = spelled_slots(document)
    if card_field is None and not (numbers.card_found or holds_number or spelled):
        return True
    cleaned = json.dumps(redacted_document(document, spelled), separators=(",", ":")).encode()
    if card_field is not None:
        reason = _FIELD_REFUSED_REASON.format(where="field", name=card_field)
        raise CardDataRefused(reason, redacted_payload=cleaned, card_field=card_field)
    raise CardDataRefused(_REFUSED_REASON.format(where="value"), redacted_payload=cleaned)
