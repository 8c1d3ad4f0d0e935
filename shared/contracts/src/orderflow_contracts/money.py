"""Exact money: ISO 4217 currencies with their minor-unit digits, and a `Money` value.

`{"amount": "12.34", "currency": "EUR"}`: the amount is a decimal **string** (a JSON number is
refused: binary floating point cannot hold 0.10 exactly), never NaN or infinite, with no more
fractional digits than the currency has (EUR 2, JPY 0, KWD 3). Amounts are stored and
serialised canonically with exactly the currency's digits ("12.30", "1200").

Arithmetic never mixes currencies (`CurrencyMismatch`) and never rounds silently: addition,
subtraction and multiplication by a whole number are exact; anything that can produce extra
digits (multiplying by a rate or a fraction) goes through `quantize`, half-even to the minor
unit, the rule in the contract README's Money section (shared/contracts/README.md).
No float anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Annotated, Any, Final, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic.types import Strict
from pydantic_core import CoreSchema

from orderflow_contracts.currencies import Currency
from orderflow_contracts.primitives import ContractModel

__all__ = [
    "Currency",
    "CurrencyMismatch",
    "Money",
    "NonNegativeMoney",
    "PositiveMoney",
    "quantize",
]

MAX_INTEGER_DIGITS: Final = 15
"""Amounts are below 10**15 in major units: with at most 3 fractional digits and quantities up
to 10 000, every intermediate result stays far inside Decimal's 28-digit default precision."""

_AMOUNT = re.compile(r"^-?(?:0|[1-9][0-9]{0,14})(?:\.([0-9]{1,4}))?$")
_AMOUNT_JSON_PATTERN: Final = r"^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,4})?$"


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


_WIDE: Final = Context(prec=64)
"""Precision for rounding to a minor unit: far beyond any amount the contract allows. Passed
explicitly rather than through a local context, which costs more than the rounding."""


def quantize(amount: Decimal, currency: Currency | str) -> Decimal:
    """`amount` rounded half-even to the currency's minor unit (JPY: whole yen)."""
    quantum = Currency.of(currency).quantum
    return amount.quantize(quantum, rounding=ROUND_HALF_EVEN, context=_WIDE)


_set: Final = object.__setattr__
_ZERO: Final = Decimal(0)
_LIMIT: Final = Decimal(10) ** MAX_INTEGER_DIGITS


def _canonical_exponent(amount: object, currency: object) -> bool:
    """Whether ``amount`` has exactly ``currency``'s digits (as every canonical amount has)."""
    return (
        isinstance(amount, Decimal)
        and isinstance(currency, Currency)
        and amount.as_tuple().exponent == -currency.minor_unit_digits
    )


def _unsigned_zero(amount: Decimal) -> Decimal:
    return abs(amount) if amount.is_zero() else amount  # never "-0.00"


def _amount_input(value: Any) -> Decimal:
    """Decimal strings (from JSON) or Decimal instances (from Python); never int or float."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("amount must be a finite decimal")
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if not _AMOUNT.fullmatch(text):
            raise ValueError(
                f"amount must have at most {MAX_INTEGER_DIGITS} integer and 4 fractional digits"
            )
        return value
    if isinstance(value, str):
        if not _AMOUNT.fullmatch(value):
            raise ValueError(
                'amount must be a decimal string such as "12.34" (no exponent, no sign other '
                f"than a leading minus, at most {MAX_INTEGER_DIGITS} integer digits)"
            )
        return Decimal(value)
    raise ValueError(f'amount must be a decimal string such as "12.34", not {type(value).__name__}')


Amount = Annotated[
    Decimal,
    Strict(False),
    BeforeValidator(_amount_input),
    PlainSerializer(lambda value: format(value, "f"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _AMOUNT_JSON_PATTERN,
            "description": 'Decimal string in major units, e.g. "12.34"; never a JSON number.',
            "examples": ["12.34"],
        }
    ),
]


class Money(ContractModel):
    """An exact amount of one currency."""

    amount: Amount
    currency: Annotated[Currency, Strict(False)]

    @model_validator(mode="wrap")
    @classmethod
    def _exact_and_canonical(cls, data: Any, handler: ModelWrapValidatorHandler[Money]) -> Money:
        # The literal must not have more fractional digits than the currency ("12.345 EUR"
        # is refused even though it would round): amounts on the wire are always exact.
        # The wire's form, {"amount": "12.34", "currency": "EUR"} (exact types), is then made
        # canonical here in one pass: through the field validators it cost twice as much, and
        # an event carries up to a dozen amounts. (That pass does not honour a caller's
        # strict=True, which nothing uses for Money.) Anything else takes the general path.
        if type(data) is cls and _canonical_exponent(data.amount, data.currency):
            # An instance made by validation or arithmetic is canonical already: a view or
            # event built from Money values does not check each of them again (one built with
            # model_construct or model_copy is, below).
            return data
        if isinstance(data, dict):
            amount, code = data.get("amount"), data.get("currency")
            if isinstance(amount, str) and isinstance(code, str):
                match = _AMOUNT.fullmatch(amount)
                currency = Currency.__members__.get(code)
                if match and currency is not None:
                    digits = len(match.group(1) or "")
                    if digits > currency.minor_unit_digits:
                        raise ValueError(
                            f"amount has {digits} fractional digits; {code} allows "
                            f"at most {currency.minor_unit_digits}"
                        )
                    if type(data) is dict and type(amount) is str and type(code) is str:
                        exact = Decimal(amount).quantize(currency.quantum, context=_WIDE)
                        return cls._trusted(_unsigned_zero(exact), currency)
        return handler(data)._canonical()

    def _canonical(self) -> Self:
        canonical = quantize(self.amount, self.currency)
        if canonical != self.amount:
            raise ValueError(
                f"amount is not a whole number of minor units; {self.currency.value} allows "
                f"at most {self.currency.minor_unit_digits} fractional digits"
            )
        # Frozen model: store the canonical form (exactly the currency's digits) once, here.
        object.__setattr__(self, "amount", _unsigned_zero(canonical))
        return self

    # ------------------------------------------------------------------ construction

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: Currency | str) -> Money:
        """An exact amount; refuses floats and amounts with more digits than the currency."""
        if isinstance(amount, bool) or not isinstance(amount, Decimal | str | int):
            raise TypeError(f"amount must be Decimal, str or int, not {type(amount).__name__}")
        value = Decimal(amount) if isinstance(amount, int) else amount
        return cls.model_validate({"amount": value, "currency": currency})

    @classmethod
    def rounded(cls, amount: Decimal | int, currency: Currency | str) -> Money:
        """`amount` rounded half-even to the currency's minor unit."""
        if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
            raise TypeError(f"amount must be Decimal or int, not {type(amount).__name__}")
        return cls.of(quantize(Decimal(amount), currency), currency)

    @classmethod
    def zero(cls, currency: Currency | str) -> Money:
        code = Currency.of(currency)
        return cls._trusted(_ZERO.quantize(code.quantum), code)

    @classmethod
    def _trusted(cls, amount: Decimal, currency: Currency) -> Money:
        """A Money of a canonical ``amount`` checked by the caller: what ``model_construct``
        builds, in a third of its time (it is generic; a test keeps the two alike). Every
        decoded amount and every sum is built this way."""
        money = object.__new__(cls)
        _set(money, "__dict__", {"amount": amount, "currency": currency})
        _set(money, "__pydantic_fields_set__", {"amount", "currency"})
        _set(money, "__pydantic_extra__", None)
        _set(money, "__pydantic_private__", None)
        return money

    @classmethod
    def _exact(cls, amount: Decimal, currency: Currency) -> Money:
        """The result of exact arithmetic on canonical amounts of ``currency`` (a sum, a
        difference, a whole multiple): a whole number of minor units already, so only its size
        is checked. Validating it again cost rendering an order's status half its time."""
        if not -_LIMIT < amount < _LIMIT:
            return cls.of(amount, currency)  # refused, with the general path's message
        return cls._trusted(_unsigned_zero(amount), currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: Currency | str) -> Money:
        """`Money.from_minor_units(1234, "EUR")` is 12.34 EUR; for JPY units are yen."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"minor units must be int, not {type(units).__name__}")
        code = Currency.of(currency)
        # A whole number of minor units has the currency's digits exactly: only its size is
        # checked (as for a sum).
        return cls._exact(Decimal(units).scaleb(-code.minor_unit_digits), code)

    @classmethod
    def total(cls, amounts: Iterable[Money], currency: Currency | str) -> Money:
        """The sum of `amounts`, all in `currency` (zero when empty)."""
        result = cls.zero(currency)
        for amount in amounts:
            result = result + amount
        return result

    # ------------------------------------------------------------------ views

    @property
    def minor_units(self) -> int:
        """The amount as an integer number of minor units: 12.34 EUR -> 1234."""
        return int(self.amount.scaleb(self.currency.minor_unit_digits))

    @property
    def is_zero(self) -> bool:
        return self.amount.is_zero()

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        return f"{format(self.amount, 'f')} {self.currency.value}"

    # ------------------------------------------------------------------ arithmetic

    def _same_currency(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency.value} with {other.currency.value}"
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money._exact(self.amount + self._same_currency(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money._exact(self.amount - self._same_currency(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money._exact(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money._exact(abs(self.amount), self.currency)

    def __mul__(self, quantity: int) -> Money:
        """Exact multiplication by a whole number (a line total: unit price x quantity)."""
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            return NotImplemented
        return Money._exact(self.amount * quantity, self.currency)

    __rmul__ = __mul__

    def multiply(self, factor: Decimal | int) -> Money:
        """`self * factor` rounded half-even to the minor unit (for fractional factors)."""
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise TypeError(f"factor must be Decimal or int, not {type(factor).__name__}")
        with localcontext() as context:
            context.prec = 64
            return Money.rounded(self.amount * factor, self.currency)

    def convert(self, rate: Decimal, to: Currency | str) -> Money:
        """This amount in another currency at `rate` (units of `to` per unit of this currency),
        rounded half-even to the target's minor unit."""
        if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
            raise ValueError("rate must be a finite positive Decimal")
        with localcontext() as context:
            context.prec = 64
            return Money.rounded(self.amount * rate, to)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same_currency(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same_currency(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same_currency(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same_currency(other).amount


def _non_negative(value: Money) -> Money:
    if value.is_negative:
        raise ValueError("amount must not be negative")
    return value


def _positive(value: Money) -> Money:
    if not value.is_positive:
        raise ValueError("amount must be greater than zero")
    return value


class _SignedAmount:
    """Publishes a Money field's sign rule in its JSON Schema: the Money definition, and an
    ``amount`` pattern the validator above enforces (so a schema-valid document is valid)."""

    def __init__(self, pattern: str, description: str) -> None:
        self._pattern, self._description = pattern, description

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        money = handler(core_schema)
        return {
            "allOf": [money, {"properties": {"amount": {"pattern": self._pattern}}}],
            "description": self._description,
        }


_UNSIGNED = r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,4})?$"

NonNegativeMoney = Annotated[
    Money,
    AfterValidator(_non_negative),
    _SignedAmount(
        r"^(?:-(?=0+(?:\.0+)?$))?" + _UNSIGNED,  # "-0.00" is zero, as the model reads it
        "Money of zero or more: no minus sign, except before an amount of zero.",
    ),
]
"""Money that is zero or more (prices, fees, totals)."""

PositiveMoney = Annotated[
    Money,
    AfterValidator(_positive),
    _SignedAmount(
        r"^(?!0+(?:\.0+)?$)" + _UNSIGNED,
        "Money greater than zero: no minus sign, and not an amount of zero.",
    ),
]
"""Money greater than zero (authorised, captured and refunded amounts)."""
