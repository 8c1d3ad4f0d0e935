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
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from typing import Annotated, Any, Final, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.types import Strict

from orderflow_contracts.primitives import ContractModel

MAX_INTEGER_DIGITS: Final = 15
"""Amounts are below 10**15 in major units: with at most 3 fractional digits and quantities up
to 10 000, every intermediate result stays far inside Decimal's 28-digit default precision."""

_AMOUNT = re.compile(r"^-?(?:0|[1-9][0-9]{0,14})(?:\.([0-9]{1,4}))?$")
_AMOUNT_JSON_PATTERN: Final = r"^-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,4})?$"


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


class Currency(StrEnum):
    """ISO 4217 currencies in circulation (funds and precious-metal codes left out), each with
    its minor-unit digits: `Currency.EUR.minor_unit_digits == 2`, `Currency.JPY... == 0`.

    The set is deliberately broad: a consumer can only read an amount in a currency it knows,
    so adding one later would break older consumers.
    """

    minor_unit_digits: int

    def __new__(cls, code: str, minor_unit_digits: int) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.minor_unit_digits = minor_unit_digits
        return member

    @classmethod
    def of(cls, code: Currency | str) -> Currency:
        """The currency with ISO code `code`; ValueError when it is not one."""
        if isinstance(code, Currency):
            return code
        try:
            return cls[code]
        except KeyError:
            raise ValueError(f"{code[:8]!r} is not a known ISO 4217 currency code") from None

    @property
    def quantum(self) -> Decimal:
        """The smallest amount of this currency: Decimal("0.01") for EUR, Decimal("1") for JPY."""
        return Decimal(1).scaleb(-self.minor_unit_digits)

    AED = "AED", 2  # UAE dirham
    AFN = "AFN", 2  # Afghan afghani
    ALL = "ALL", 2  # Albanian lek
    AMD = "AMD", 2  # Armenian dram
    AOA = "AOA", 2  # Angolan kwanza
    ARS = "ARS", 2  # Argentine peso
    AUD = "AUD", 2  # Australian dollar
    AWG = "AWG", 2  # Aruban florin
    AZN = "AZN", 2  # Azerbaijani manat
    BAM = "BAM", 2  # Bosnia and Herzegovina convertible mark
    BBD = "BBD", 2  # Barbados dollar
    BDT = "BDT", 2  # Bangladeshi taka
    BGN = "BGN", 2  # Bulgarian lev
    BHD = "BHD", 3  # Bahraini dinar
    BIF = "BIF", 0  # Burundian franc
    BMD = "BMD", 2  # Bermudian dollar
    BND = "BND", 2  # Brunei dollar
    BOB = "BOB", 2  # Boliviano
    BRL = "BRL", 2  # Brazilian real
    BSD = "BSD", 2  # Bahamian dollar
    BTN = "BTN", 2  # Bhutanese ngultrum
    BWP = "BWP", 2  # Botswana pula
    BYN = "BYN", 2  # Belarusian ruble
    BZD = "BZD", 2  # Belize dollar
    CAD = "CAD", 2  # Canadian dollar
    CDF = "CDF", 2  # Congolese franc
    CHF = "CHF", 2  # Swiss franc
    CLP = "CLP", 0  # Chilean peso
    CNY = "CNY", 2  # Renminbi
    COP = "COP", 2  # Colombian peso
    CRC = "CRC", 2  # Costa Rican colon
    CUP = "CUP", 2  # Cuban peso
    CVE = "CVE", 2  # Cape Verdean escudo
    CZK = "CZK", 2  # Czech koruna
    DJF = "DJF", 0  # Djiboutian franc
    DKK = "DKK", 2  # Danish krone
    DOP = "DOP", 2  # Dominican peso
    DZD = "DZD", 2  # Algerian dinar
    EGP = "EGP", 2  # Egyptian pound
    ERN = "ERN", 2  # Eritrean nakfa
    ETB = "ETB", 2  # Ethiopian birr
    EUR = "EUR", 2  # Euro
    FJD = "FJD", 2  # Fiji dollar
    FKP = "FKP", 2  # Falkland Islands pound
    GBP = "GBP", 2  # Pound sterling
    GEL = "GEL", 2  # Georgian lari
    GHS = "GHS", 2  # Ghanaian cedi
    GIP = "GIP", 2  # Gibraltar pound
    GMD = "GMD", 2  # Gambian dalasi
    GNF = "GNF", 0  # Guinean franc
    GTQ = "GTQ", 2  # Guatemalan quetzal
    GYD = "GYD", 2  # Guyanese dollar
    HKD = "HKD", 2  # Hong Kong dollar
    HNL = "HNL", 2  # Honduran lempira
    HTG = "HTG", 2  # Haitian gourde
    HUF = "HUF", 2  # Hungarian forint
    IDR = "IDR", 2  # Indonesian rupiah
    ILS = "ILS", 2  # Israeli new shekel
    INR = "INR", 2  # Indian rupee
    IQD = "IQD", 3  # Iraqi dinar
    IRR = "IRR", 2  # Iranian rial
    ISK = "ISK", 0  # Icelandic krona
    JMD = "JMD", 2  # Jamaican dollar
    JOD = "JOD", 3  # Jordanian dinar
    JPY = "JPY", 0  # Japanese yen
    KES = "KES", 2  # Kenyan shilling
    KGS = "KGS", 2  # Kyrgyzstani som
    KHR = "KHR", 2  # Cambodian riel
    KMF = "KMF", 0  # Comoro franc
    KPW = "KPW", 2  # North Korean won
    KRW = "KRW", 0  # South Korean won
    KWD = "KWD", 3  # Kuwaiti dinar
    KYD = "KYD", 2  # Cayman Islands dollar
    KZT = "KZT", 2  # Kazakhstani tenge
    LAK = "LAK", 2  # Lao kip
    LBP = "LBP", 2  # Lebanese pound
    LKR = "LKR", 2  # Sri Lankan rupee
    LRD = "LRD", 2  # Liberian dollar
    LSL = "LSL", 2  # Lesotho loti
    LYD = "LYD", 3  # Libyan dinar
    MAD = "MAD", 2  # Moroccan dirham
    MDL = "MDL", 2  # Moldovan leu
    MGA = "MGA", 2  # Malagasy ariary
    MKD = "MKD", 2  # Macedonian denar
    MMK = "MMK", 2  # Myanmar kyat
    MNT = "MNT", 2  # Mongolian togrog
    MOP = "MOP", 2  # Macanese pataca
    MRU = "MRU", 2  # Mauritanian ouguiya
    MUR = "MUR", 2  # Mauritian rupee
    MVR = "MVR", 2  # Maldivian rufiyaa
    MWK = "MWK", 2  # Malawian kwacha
    MXN = "MXN", 2  # Mexican peso
    MYR = "MYR", 2  # Malaysian ringgit
    MZN = "MZN", 2  # Mozambican metical
    NAD = "NAD", 2  # Namibian dollar
    NGN = "NGN", 2  # Nigerian naira
    NIO = "NIO", 2  # Nicaraguan cordoba
    NOK = "NOK", 2  # Norwegian krone
    NPR = "NPR", 2  # Nepalese rupee
    NZD = "NZD", 2  # New Zealand dollar
    OMR = "OMR", 3  # Omani rial
    PAB = "PAB", 2  # Panamanian balboa
    PEN = "PEN", 2  # Peruvian sol
    PGK = "PGK", 2  # Papua New Guinean kina
    PHP = "PHP", 2  # Philippine peso
    PKR = "PKR", 2  # Pakistani rupee
    PLN = "PLN", 2  # Polish zloty
    PYG = "PYG", 0  # Paraguayan guarani
    QAR = "QAR", 2  # Qatari riyal
    RON = "RON", 2  # Romanian leu
    RSD = "RSD", 2  # Serbian dinar
    RUB = "RUB", 2  # Russian ruble
    RWF = "RWF", 0  # Rwandan franc
    SAR = "SAR", 2  # Saudi riyal
    SBD = "SBD", 2  # Solomon Islands dollar
    SCR = "SCR", 2  # Seychelles rupee
    SDG = "SDG", 2  # Sudanese pound
    SEK = "SEK", 2  # Swedish krona
    SGD = "SGD", 2  # Singapore dollar
    SHP = "SHP", 2  # Saint Helena pound
    SLE = "SLE", 2  # Sierra Leonean leone
    SOS = "SOS", 2  # Somali shilling
    SRD = "SRD", 2  # Surinamese dollar
    SSP = "SSP", 2  # South Sudanese pound
    STN = "STN", 2  # Sao Tome and Principe dobra
    SVC = "SVC", 2  # Salvadoran colon
    SYP = "SYP", 2  # Syrian pound
    SZL = "SZL", 2  # Swazi lilangeni
    THB = "THB", 2  # Thai baht
    TJS = "TJS", 2  # Tajikistani somoni
    TMT = "TMT", 2  # Turkmenistan manat
    TND = "TND", 3  # Tunisian dinar
    TOP = "TOP", 2  # Tongan pa'anga
    TRY = "TRY", 2  # Turkish lira
    TTD = "TTD", 2  # Trinidad and Tobago dollar
    TWD = "TWD", 2  # New Taiwan dollar
    TZS = "TZS", 2  # Tanzanian shilling
    UAH = "UAH", 2  # Ukrainian hryvnia
    UGX = "UGX", 0  # Ugandan shilling
    USD = "USD", 2  # United States dollar
    UYU = "UYU", 2  # Uruguayan peso
    UZS = "UZS", 2  # Uzbekistan sum
    VES = "VES", 2  # Venezuelan bolivar soberano
    VND = "VND", 0  # Vietnamese dong
    VUV = "VUV", 0  # Vanuatu vatu
    WST = "WST", 2  # Samoan tala
    XAF = "XAF", 0  # CFA franc BEAC
    XCD = "XCD", 2  # East Caribbean dollar
    XCG = "XCG", 2  # Caribbean guilder
    XOF = "XOF", 0  # CFA franc BCEAO
    XPF = "XPF", 0  # CFP franc
    YER = "YER", 2  # Yemeni rial
    ZAR = "ZAR", 2  # South African rand
    ZMW = "ZMW", 2  # Zambian kwacha
    ZWG = "ZWG", 2  # Zimbabwe gold


def quantize(amount: Decimal, currency: Currency | str) -> Decimal:
    """`amount` rounded half-even to the currency's minor unit (JPY: whole yen)."""
    quantum = Currency.of(currency).quantum
    with localcontext() as context:
        context.prec = 64
        return amount.quantize(quantum, rounding=ROUND_HALF_EVEN)


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

    @model_validator(mode="before")
    @classmethod
    def _reject_too_many_digits_in_text(cls, data: Any) -> Any:
        # The literal must not have more fractional digits than the currency ("12.345 EUR" is
        # refused even though it would round): amounts on the wire are always exact.
        if isinstance(data, dict):
            amount, currency = data.get("amount"), data.get("currency")
            if isinstance(amount, str) and isinstance(currency, str):
                match = _AMOUNT.fullmatch(amount)
                if match and currency in Currency.__members__:
                    digits = len(match.group(1) or "")
                    allowed = Currency.of(currency).minor_unit_digits
                    if digits > allowed:
                        raise ValueError(
                            f"amount has {digits} fractional digits; {currency} allows "
                            f"at most {allowed}"
                        )
        return data

    @model_validator(mode="after")
    def _canonical_amount(self) -> Self:
        canonical = quantize(self.amount, self.currency)
        if canonical != self.amount:
            raise ValueError(
                f"amount is not a whole number of minor units; {self.currency.value} allows "
                f"at most {self.currency.minor_unit_digits} fractional digits"
            )
        if canonical.is_zero():
            canonical = abs(canonical)  # never "-0.00"
        # Frozen model: store the canonical form (exactly the currency's digits) once, here.
        object.__setattr__(self, "amount", canonical)
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
        return cls.of(Decimal(0), currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: Currency | str) -> Money:
        """`Money.from_minor_units(1234, "EUR")` is 12.34 EUR; for JPY units are yen."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"minor units must be int, not {type(units).__name__}")
        code = Currency.of(currency)
        return cls.of(Decimal(units).scaleb(-code.minor_unit_digits), code)

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
        return Money.of(self.amount + self._same_currency(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money.of(self.amount - self._same_currency(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money.of(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money.of(abs(self.amount), self.currency)

    def __mul__(self, quantity: int) -> Money:
        """Exact multiplication by a whole number (a line total: unit price x quantity)."""
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            return NotImplemented
        return Money.of(self.amount * quantity, self.currency)

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


NonNegativeMoney = Annotated[Money, AfterValidator(_non_negative)]
"""Money that is zero or more (prices, fees, totals)."""

PositiveMoney = Annotated[Money, AfterValidator(_positive)]
"""Money greater than zero (authorised, captured and refunded amounts)."""
