"""The base model and the constrained value types every event is built from.

Validation policy (why it looks like this):

* `ContractModel` is **strict**: a JSON string "3" is not an integer, a number is not a string,
  `true` is not `1`. A producer bug must surface as a dead letter, not as silent coercion.
* Values that JSON can only carry as strings (UUIDs, dates, timestamps, decimals, currency codes)
  opt out of pydantic's strict mode, because strict mode in Python mode would refuse the very
  strings a decoded JSON document holds. Each of them instead refuses anything that is not a
  string (or the Python type itself), so a JSON number never slips in as a timestamp or amount.
* Unknown fields are ignored (`extra="ignore"`): a newer producer may add optional fields without
  breaking an older consumer.
* Models are frozen: an event is a fact, it is not edited after the fact.
* Error messages never echo the rejected value (a rejected value might be a card number, and
  reasons end up in dead letters and logs).
* No text anywhere in a model may hold a NUL character (U+0000) or a lone surrogate
  (U+D800-U+DFFF): PostgreSQL text cannot store them and UTF-8 cannot encode them, so a
  handler would fail on them. They are a contract violation, refused at decode time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.types import Strict
from pydantic_core import InitErrorDetails, PydanticCustomError

from orderflow_contracts.card_data import contains_card_number


class ContractModel(BaseModel):
    """Base of every model in the contract: strict, frozen, tolerant of unknown fields."""

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="ignore",
    )

    text_checked_elsewhere: ClassVar[frozenset[str]] = frozenset()
    """Fields whose text is checked by another model (the envelope's ``data``: its event)."""

    @model_validator(mode="after")
    def _storable_text_only(self, info: ValidationInfo) -> Self:
        """Once per model, not once per field: a validator call per field cost every consumer
        about a tenth of decoding an event, even when the context skips the check. An error
        still names each field (its location, as a field validator's would)."""
        if info.context is TEXT_CHECKED:
            return self
        skipped = self.text_checked_elsewhere
        unstorable = [
            InitErrorDetails(type=_UNSTORABLE_TEXT, loc=(name,), input=value)
            for name in type(self).model_fields
            if name not in skipped and not is_storable_text(value := getattr(self, name))
        ]
        if unstorable:
            raise ValidationError.from_exception_data(type(self).__name__, unstorable)
        return self


_UNSTORABLE_TEXT: Final = PydanticCustomError(
    "value_error",
    "Value error, text must not contain NUL characters (U+0000) or lone surrogates (U+D800-U+DFFF)",
)

TEXT_CHECKED: Final[dict[str, bool]] = {"text_checked": True}
"""Validation context for a document decoded from JSON that :func:`json_text_is_storable`
cleared: its text needs no check field by field (a third of decoding's time)."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_TEXT_CONTAINERS: Final = (str, dict, list, tuple, set, frozenset)


def json_text_is_storable(raw: bytes) -> bool:
    """True when no string of this JSON document can hold a NUL or a lone surrogate.

    Valid UTF-8 cannot encode either, and JSON refuses raw control characters in strings, so
    only a ``\\u0000`` or ``\\uD800``-``\\uDFFF`` escape can produce one. False means "look
    closer" (a surrogate pair, or an escaped backslash before ``u``, is harmless)."""
    return _UNSTORABLE_ESCAPE.search(raw) is None


def is_storable_text(value: Any) -> bool:
    """False when ``value`` is, or holds (in lists, tuples and dicts, keys included, at any
    depth), a string with a NUL character or a lone surrogate. Nested models check themselves.
    Iterative, so a deeply nested value cannot exhaust the stack."""
    if type(value) is str:
        return _UNSTORABLE.search(value) is None
    if not isinstance(value, _TEXT_CONTAINERS):
        return True
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
    return True


# --------------------------------------------------------------------------- string-carried types


def _string_or(*python_types: type) -> BeforeValidator:
    """Accept a JSON string (parsed by pydantic) or an instance of the Python type itself."""

    names = " or ".join(t.__name__ for t in python_types)

    def check(value: Any) -> Any:
        if isinstance(value, (str, *python_types)):
            return value
        raise ValueError(f"expected a string or {names}, got {type(value).__name__}")

    return BeforeValidator(check)


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339_or_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise ValueError(
                "expected an RFC 3339 timestamp with a time zone, e.g. 2025-01-31T12:00:00Z"
            )
        return value
    raise ValueError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")


EARLIEST_INSTANT: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT: Final = datetime(9000, 1, 1, tzinfo=UTC)
"""Timestamps and dates of the contract lie in [1970-01-01, 9000-01-01): no event happened
before, and every date the policies derive from one (a return window, a warranty's end) stays
within what Python and PostgreSQL can represent. Without the bound, ``0001-01-01T00:00:00+01:00``
could not even be turned into UTC, and ``9999-12-31`` plus a warranty overflowed in a handler."""

_OUT_OF_RANGE: Final = "{what} out of range: it must lie from 1970-01-01 to 8999-12-31 (UTC)"


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (naive datetimes are refused)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_INSTANT <= utc < LATEST_INSTANT:
        raise ValueError(_OUT_OF_RANGE.format(what="timestamp"))
    return utc


UtcDatetime = Annotated[
    datetime,
    Strict(False),
    BeforeValidator(_rfc3339_or_datetime),
    AfterValidator(_aware_utc),
    WithJsonSchema({"type": "string", "format": "date-time"}),
    Field(examples=["2025-01-31T12:00:00Z"]),
]
"""A timezone-aware instant, normalised to UTC, serialised as RFC 3339 with `Z`; from 1970 to
the end of 8999 (``EARLIEST_INSTANT``, ``LATEST_INSTANT``)."""

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_or_date(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("expected a calendar date, got a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("expected an ISO 8601 calendar date string, e.g. 2025-01-31")


def _date_in_range(value: date) -> date:
    if not EARLIEST_INSTANT.date() <= value < LATEST_INSTANT.date():
        raise ValueError(_OUT_OF_RANGE.format(what="date"))
    return value


CalendarDate = Annotated[
    date,
    Strict(False),
    BeforeValidator(_iso_date_or_date),
    AfterValidator(_date_in_range),
    WithJsonSchema({"type": "string", "format": "date"}),
]
"""A calendar date (no time, no zone), serialised as YYYY-MM-DD; from 1970 to the end of 8999."""

_HYPHENATED_UUID: Final = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


def _hyphenated_uuid(value: Any) -> Any:
    """A UUID string in the hyphenated form, in any case: braces, a ``urn:uuid:`` prefix or no
    hyphens write another key (another partition for an id that keys one)."""
    if isinstance(value, UUID) or (isinstance(value, str) and _HYPHENATED_UUID.fullmatch(value)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a string or UUID, got {type(value).__name__}")
    try:
        UUID(value)
    except ValueError:
        return value  # no UUID at all: pydantic says so
    raise ValueError("a UUID is written in its hyphenated form (8-4-4-4-12 hex digits)")


Uuid = Annotated[UUID, Strict(False), BeforeValidator(_hyphenated_uuid)]
"""A UUID, written in the hyphenated form (any case), serialised in lower case."""


def parse_uuid(text: str) -> UUID | None:
    """``text`` as a UUID when it is one in the hyphenated form, in any case (what the
    contract's readers accept); None for anything else, ``UUID()``'s other spellings included
    (braces, a ``urn:uuid:`` prefix, no hyphens, a sign or ``_`` between digits)."""
    return UUID(text) if _HYPHENATED_UUID.fullmatch(text) else None


# --------------------------------------------------------------------------------- plain strings

IDENTIFIER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
"""An opaque id minted outside Orderflow (cart, customer, warehouse, claim...): 1-128 characters
of letters, digits and `_ . : -`, starting with a letter or digit. UUID strings fit."""

WarehouseId = Annotated[
    str, StringConstraints(pattern=IDENTIFIER_PATTERN), Field(examples=["US-EAST"])
]
"""A warehouse's id, as configured in fulfillment and known to the warehouse system."""

TEXT_MAX_LENGTH: Final = 500

Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=r"\S")]
"""Human-readable text: 1-500 characters, not blank."""


def clip_text(message: str) -> str:
    """``message`` cut to fit a :data:`Text` field (ending in "..."): a message composed from
    another one (a provider's decline, a list of SKUs) must never make its event invalid."""
    if len(message) <= TEXT_MAX_LENGTH:
        return message
    return message[: TEXT_MAX_LENGTH - 3] + "..."


Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
"""A short human-readable name: 1-200 characters, not blank."""

SKU_PATTERN: Final = r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$"

Sku = Annotated[
    str,
    StringConstraints(min_length=2, max_length=32, pattern=SKU_PATTERN),
    Field(examples=["MB-SPIKY-8CM"]),
]
"""A stock-keeping unit: 2-32 characters, upper-case letters and digits in hyphen-separated
groups, e.g. `MB-SPIKY-8CM`."""

CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(examples=["DE", "US", "JP"])
]
"""An ISO 3166-1 alpha-2 country code, upper case."""

CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{3}$"),
    AfterValidator(str.upper),
    Field(examples=["EUR"]),
]
"""An ISO 4217 alphabetic code shape (three letters, in any case, read upper case: `eur` is
`EUR`); not checked against the list, for inputs the cart validates itself (see
`CartCurrencySelected`)."""

Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=["ada@example.com"]),
]
"""An e-mail address (shape check only: something@domain.tld, at most 254 characters)."""

REASON_CODE_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"

ReasonCode = Annotated[
    str,
    StringConstraints(pattern=REASON_CODE_PATTERN),
    Field(examples=["insufficient_funds"]),
]
"""A machine-readable reason, snake_case. Deliberately an open set (not an enum): a producer may
add codes within v1 and older consumers must still accept them. Known codes are listed by the
`*Code` enumerations next to each event, and in each field's schema (:func:`known_codes`)."""


def known_codes(codes: type[StrEnum], *, unused: tuple[StrEnum, ...] = ()) -> Any:
    """A reason-code field whose schema lists the codes known today (an open list), but the
    ``unused`` ones: kept in the enumeration (v1 removes no enum value), never published."""
    values = [code.value for code in codes if code not in unused]
    listed = ", ".join(f"`{value}`" for value in values)
    return Field(description=f"Known codes (an open list): {listed}.", examples=values)


def _no_card_number(value: str) -> str:
    if contains_card_number(value):
        raise ValueError("looks like it contains a card number; send a provider token instead")
    return value


PROVIDER_TOKEN_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,254}$"  # noqa: S105 - a pattern

ProviderToken = Annotated[
    str,
    StringConstraints(pattern=PROVIDER_TOKEN_PATTERN),
    AfterValidator(_no_card_number),
    Field(examples=["tok_visa_approve"]),
]
"""An opaque payment-provider token or reference (1-255 characters of letters, digits and
`_ . : -`, starting with a letter or digit). A token containing a Luhn-valid 13-19 digit run
is refused: card numbers never enter the system."""

TokenInput = Annotated[
    str,
    StringConstraints(max_length=255),
    AfterValidator(_no_card_number),
    Field(examples=["tok_visa_approve"]),
]
"""A provider token as a storefront sends it: any text up to 255 characters, checked by the
cart (blank or malformed is a checkout rejection, not a dead letter), except that one holding
a card number, or longer, is refused here."""

CardBrand = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"\S")]
"""The card scheme or product as the provider names it, e.g. `visa`."""

Last4 = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
"""The last four digits of a card number."""

PaymentMethod = Literal["visa", "mastercard", "paypal"]
"""The payment methods the store accepts."""

SUPPORTED_PAYMENT_METHODS: Final[frozenset[str]] = frozenset({"visa", "mastercard", "paypal"})
CARD_PAYMENT_METHODS: Final[frozenset[str]] = frozenset({"visa", "mastercard"})

MAX_QUANTITY: Final = 10_000
"""Sanity cap for any quantity in the contract. Business limits (how many of one item a cart
may hold) are smaller and belong to the service that enforces them."""

Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
"""A positive whole number of units (1 to 10 000)."""

StockLevel = Annotated[int, Field(ge=0, le=1_000_000_000)]
"""A non-negative whole number of units on hand."""


# ---------------------------------------------------------------------------------------- decimal

_RATE = re.compile(r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,12})?$")


def _rate(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | Decimal):
        raise ValueError(f"expected a decimal string, got {type(value).__name__}")
    text = value if isinstance(value, str) else format(value, "f")
    if not _RATE.fullmatch(text):
        raise ValueError(
            "expected a positive decimal string with at most 9 integer and 12 fractional digits"
        )
    try:
        rate = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guarantees it
        raise ValueError("not a decimal") from exc
    if rate <= 0:
        raise ValueError("rate must be greater than zero")
    return rate


Rate = Annotated[
    Decimal,
    Strict(False),
    BeforeValidator(_rate),
    PlainSerializer(lambda value: format(value, "f"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,12})?$",
            "examples": ["0.9235"],
        }
    ),
]
"""A positive exchange rate as a decimal string (never a JSON number)."""
