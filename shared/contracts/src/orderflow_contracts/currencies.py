"""ISO 4217 currencies in circulation, each with its minor-unit digits.

Kept apart from :mod:`orderflow_contracts.money` (which re-exports :class:`Currency`) because
the table is long and changes for its own reasons (a new currency, a redenomination).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Self


class Currency(StrEnum):
    """ISO 4217 currencies in circulation (funds and precious-metal codes left out), each with
    its minor-unit digits: `Currency.EUR.minor_unit_digits == 2`, `Currency.JPY... == 0`.

    The set is deliberately broad: a consumer can only read an amount in a currency it knows,
    so adding one later would break older consumers.
    """

    minor_unit_digits: int
    quantum: Decimal
    """The smallest amount of this currency: Decimal("0.01") for EUR, Decimal("1") for JPY
    (made once per currency: every amount decoded is rounded to it)."""

    def __new__(cls, code: str, minor_unit_digits: int) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.minor_unit_digits = minor_unit_digits
        member.quantum = Decimal(1).scaleb(-minor_unit_digits)
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
