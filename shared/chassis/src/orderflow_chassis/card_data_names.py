"""Names that say "card data": a JSON key or Kafka header named for a card number or security
code is refused by its name, whatever its value (a security code has no shape to look for)."""

from __future__ import annotations

import functools
import re
from typing import Any, Final

REDACTED_FIELD: Final = "[REDACTED-CARD-DATA]"
"""What the value of a field named for card data becomes in a redacted copy."""

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
SHORT_ESCAPE: Final = re.compile(rb"\\[^u]")


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
    return normalised_name(name) in CARD_DATA_NAMES


@functools.lru_cache(maxsize=1024)  # every record's header names, mostly the same few
def normalised_name(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass").translate(_NAME_BYTES, _NOT_NAME_BYTES)


def may_name_card_data(raw: bytes) -> bool:
    """False only when no key of the JSON document ``raw`` names card data. A first pass on a
    copy where each string reads as its normalised name in quotes; values and strings that
    merely look like keys pass it too, and are decided by the walk."""
    if b"\\u" in raw or b"\x00" in raw:  # an escape could spell any letter; NUL: UTF-16 or 32
        return True
    if b"\\" in raw:
        raw = SHORT_ESCAPE.sub(b"", raw)
    marked = raw.translate(_NAME_BYTES, _NOT_QUOTED_NAME_BYTES)
    return _CARD_DATA_NAME_QUOTED.search(marked) is not None
