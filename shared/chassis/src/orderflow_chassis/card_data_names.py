"""Names that say "card data": a JSON key or Kafka header named for a card number or security
code is refused by its name, whatever its value (a security code has no shape to look for).

A name is read as a person reads it: its compatibility form first (NFKC: ``CVV`` written in
fullwidth letters, or in other letters drawn alike, reads as ``CVV``), then lower-cased with
everything but ASCII letters and digits removed (``Card-Number`` is ``cardnumber``). It names
card data when that is one of :data:`CARD_DATA_NAMES`, when it is a card number's name with a
numeric suffix (``card_number_1``, ``ccnum2``), or when one of its words is a security code's
(``cvv_code``, ``billing_cvv``, ``cvvNumber``: see :func:`_names_security_code`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
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
# Short names for the card number (stop 44), after a qualifier that says "card" only: a
# ``payment_no`` or ``credit_no`` (a credit note's) is another document's number.
_CARD_NUMBER_QUALIFIERS: Final = (b"card", b"cc", b"creditcard", b"debitcard", b"paymentcard")
_CARD_NUMBER_WORDS: Final = (b"number", b"num", b"no", b"nr")
CARD_DATA_NAMES: Final = (
    frozenset(
        # An "X-" header (``X-Card-Number``) too; but not ``X-CID``, a correlation id's name as
        # often as a card identification number's.
        prefix + qualifier + word
        for prefix in (b"", b"x")
        for qualifier in _CARD_DATA_QUALIFIERS
        for word in _CARD_DATA_WORDS
    )
    | frozenset(qualifier + b"cid" for qualifier in _CARD_DATA_QUALIFIERS)
    | frozenset(
        prefix + qualifier + word
        for prefix in (b"", b"x")
        for qualifier in _CARD_NUMBER_QUALIFIERS
        for word in _CARD_NUMBER_WORDS
    )
)
# The names above that name a card number, which may end in a numeric suffix (``card_number_1``,
# two cards on one form); a security code's is read word by word instead.
_NUMBER_NAMES: Final = frozenset(
    name for name in CARD_DATA_NAMES if name.endswith((b"number", b"num", b"no", b"nr", b"pan"))
)
# A word of a name that is a security code's (CVV, CVC, CVN, CCV, Discover's CVD, CV2), alone
# or with its digit (``cvv2``, ``cvc1``): ``cvv_code``, ``billing_cvv``, ``cvvNumber``,
# ``X-CVV-Value``. Word by word, never inside a word, so ``discovery`` or ``recv`` are no such
# name. Not ``cid`` or ``csc``, which name other things as often (``x_cid``); those are
# refused as whole names only (above).
_SECURITY_CODE_WORDS: Final = frozenset({"cvv", "cvc", "cvn", "ccv", "cvd"})
# A word after the code's that says the field is about the check, not the code: Stripe's
# ``cvc_check``, a gateway's ``cvvResult``, a form's ``cvv_hint``.
_ABOUT_THE_CHECK: Final = frozenset(
    {"hint", "help", "label", "check", "checked", "result", "response", "status", "match",
     "length", "required", "present", "provided", "supported", "enabled"}
)  # fmt: skip
# A name's words: runs of lower case (a capital may lead), of capitals (``CVVCode`` is CVV,
# Code) and of digits; anything else separates them.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
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
# A card number's name may end in digits.
_CARD_DATA_NAME_QUOTED: Final = re.compile(b'"' + _trie_pattern(CARD_DATA_NAMES) + b'[0-9]*"')
# A security code's word anywhere in that copy: normalised, a name holds its words in order with
# nothing between them (``billing_cvv`` is ``billingcvv``, ``cv_2`` is ``cv2``).
_SECURITY_CODE_WORD: Final = re.compile(rb"cv[vcnd2]|ccv")


# A security code's name written as one word (review, stop 44): ``cvvcode``, ``CVVnumber``,
# ``billingcvv``, ``x-cvvnum`` normalised. A whole name only, from a short list of qualifiers:
# a code's letters inside any longer word (``recvcode``) name nothing.
_SECURITY_CODE_NAME: Final = re.compile(
    rb"(?:billing|cardholder|card|cc|credit|payment|security|x)?(?:cvv|cvc|cvn|ccv|cvd)[0-9]?"
    rb"(?:code|number|num|no|nr|value)?[0-9]*"
)

# Every record's header names and an event's keys are mostly the same few: what is read of
# them is cached. Not of a longer name: a hostile record's keys may be megabytes long.
_CACHED_NAME_LENGTH: Final = 100


def names_card_data(name: str) -> bool:
    """Whether a JSON key or header name names card data (see the module docstring)."""
    if len(name) > _CACHED_NAME_LENGTH:
        return _names_card_data.__wrapped__(name)
    return _names_card_data(name)


@functools.lru_cache(maxsize=1024)
def _names_card_data(name: str) -> bool:
    normalised = normalised_name(name)
    return (
        normalised in CARD_DATA_NAMES
        or normalised.rstrip(b"0123456789") in _NUMBER_NAMES
        or _SECURITY_CODE_NAME.fullmatch(normalised) is not None
        or _names_security_code(_folded(name))
    )


def _names_security_code(name: str) -> bool:
    """Whether a word of ``name`` is a security code's (``cvv``, ``cvv2``; ``cv`` then ``2``)
    and no later word says the field is about the check (:data:`_ABOUT_THE_CHECK`)."""
    words = [word.lower() for word in _WORDS.findall(name)]
    for index, word in enumerate(words):
        following = words[index + 1 : index + 2]
        if word in _SECURITY_CODE_WORDS or (word == "cv" and following == ["2"]):
            return _ABOUT_THE_CHECK.isdisjoint(words[index + 1 :])
    return False


def _folded(name: str) -> str:
    """``name`` in its compatibility form (NFKC); a lone surrogate (a JSON escape can write
    one) is left as it is."""
    return unicodedata.normalize("NFKC", name) if not name.isascii() else name


def normalised_name(name: str) -> bytes:
    """``name`` in its compatibility form, lower-cased, with everything but ASCII letters and
    digits removed (see the module docstring)."""
    if len(name) > _CACHED_NAME_LENGTH:
        return _normalised_name.__wrapped__(name)
    return _normalised_name(name)


@functools.lru_cache(maxsize=1024)
def _normalised_name(name: str) -> bytes:
    return _folded(name).encode("utf-8", "surrogatepass").translate(_NAME_BYTES, _NOT_NAME_BYTES)


def may_name_card_data(raw: bytes) -> bool:
    """False only when no key of the JSON document ``raw`` names card data. A first pass on a
    copy where each string reads as its normalised name in quotes; values and strings that
    merely look like keys pass it too, and are decided by the walk."""
    if b"\\u" in raw or b"\x00" in raw:  # an escape could spell any letter; NUL: UTF-16 or 32
        return True
    if not raw.isascii() and _folds(raw):
        return True
    if b"\\" in raw:
        raw = SHORT_ESCAPE.sub(b"", raw)
    marked = raw.translate(_NAME_BYTES, _NOT_QUOTED_NAME_BYTES)
    if _CARD_DATA_NAME_QUOTED.search(marked) is not None:
        return True
    # A plain substring search first: the regex alone cost more than the name search above.
    return b"cv" in marked and _SECURITY_CODE_WORD.search(marked) is not None


def _folds(raw: bytes) -> bool:
    """Whether UTF-8 ``raw`` may hold a character whose compatibility form differs (a fullwidth
    ``C`` is ``C``): the copy above drops every byte that is not ASCII, so such a document is
    walked. Text in NFKC already (``Müller``, precomposed) is not, nor are its keys: each reads
    as itself. Bytes that are not UTF-8 are (the walk decides)."""
    try:
        return not unicodedata.is_normalized("NFKC", raw.decode("utf-8"))
    except UnicodeDecodeError:
        return True
