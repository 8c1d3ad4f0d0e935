"""Text as a person reads its digits: the reading every card-number scan starts from.

Another script's digits (fullwidth, Arabic-Indic...) read as digits, any space as a space, any
line separator as a line break, any dash (and the minus sign) as a hyphen, a printed group's dot
(middle dot, bullet) as a comma and as a bar, a compatibility form of one ASCII
character as that character, and invisible characters (zero-width spaces, soft hyphens,
combining marks) are not there (:mod:`orderflow_contracts.card_data`'s module docstring).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def as_read(text: str, *, dots: str = ",") -> tuple[str, list[int] | None]:
    """``text`` as a person reads its digits, and where each of its characters came from (None
    when it is ``text`` itself): see :func:`_read_as`. ASCII text, and text whose other
    characters all read as themselves (``Müller``), is returned as it is. A printed group's dot
    (see ``_PRINTED_DOTS``) reads as ``dots``: a comma by default, or a bar."""
    if text.isascii() or all(_read_as(m.group(0)) == m.group(0) for m in _NON_ASCII.finditer(text)):
        return text, None
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        read = ch if ch.isascii() else _read_as(ch)
        if read == _DOT:
            read = dots
        if read:
            chars.append(read)
            origin.append(index)
    return "".join(chars), origin


def dot_readings(text: str, identifier: bool) -> tuple[str, ...]:
    """How ``text``'s printed dots are to be read (see ``_PRINTED_DOTS``): as a comma, and in
    free text (not an identifier) that holds one, as a bar too."""
    if identifier or text.isascii() or _PRINTED_DOTS.search(text) is None:
        return (",",)
    return (",", "|")


_READ_AS: dict[str, str] = {}
# Unicode general categories read alike: spaces, line and paragraph separators, dashes, and
# what is not seen (format characters: zero-width spaces, soft hyphens; combining marks, which
# sit on the character before them: ``4\u0301``).
_READ_BY_CATEGORY: Final = {
    "Zs": " ", "Zl": "\n", "Zp": "\n", "Pd": "-", "Cf": "", "Mn": "", "Me": "",
}  # fmt: skip
_NEXT_LINE: Final = "\x85"  # a control character (Cc), yet a line break wherever text is shown
# Dots that separate printed groups (middle dot, bullet, bullet and dot operators, hyphenation
# point, katakana middle dot, and the forms NFKC folds to them). They list things as often as a
# comma does (``2017 • 2018 • 2019``), so groups they join must be brand-shaped: read as a
# comma, for the grouped and identifier rules; and, in free text, read as a bar too, a gap a
# number is broken up by (card_data_broken), which may have spaces around it. Review: helper
# 121 (4111•1111•1111•1111 passed), 123 (as full stops they made year lists card numbers), 126
# and 128 (one reading alone missed what the other finds).
_DOT: Final = "\ue000"  # what _read_as gives for one: as_read puts the reading asked for
_PRINTED_DOTS: Final = re.compile("[\u00b7\u2022\u2219\u22c5\u2027\u30fb\u0387\uff65]")
_READ_AS_ONE_OF_OURS: Final = {
    "\u00b7": _DOT, "\u2022": _DOT, "\u2219": _DOT, "\u22c5": _DOT, "\u2027": _DOT,
    "\u30fb": _DOT, "\u2212": "-",  # the minus sign: a dash in all but its category
}  # fmt: skip


def _read_as(ch: str) -> str:
    """One non-ASCII character as read among digits ("" when invisible): a decimal digit of any
    script as its ASCII digit, a character of a category above as that category reads, and one
    whose compatibility form (NFKC) is one ASCII character (fullwidth punctuation and letters,
    superscript digits) as that character, a printed group's dot as ``_DOT`` (see
    :func:`as_read`), the minus sign as
    ``-``; any other as itself."""
    known = _READ_AS.get(ch)
    if known is None:
        category = unicodedata.category(ch)
        if category == "Nd":
            known = str(unicodedata.decimal(ch))
        elif category in _READ_BY_CATEGORY:
            known = _READ_BY_CATEGORY[category]
        elif ch == _NEXT_LINE:
            known = "\n"
        else:
            folded = unicodedata.normalize("NFKC", ch)
            if folded in _READ_AS_ONE_OF_OURS:  # the character, or one of its other forms
                known = _READ_AS_ONE_OF_OURS[folded]
            else:
                known = folded if len(folded) == 1 and folded.isascii() else ch
        if len(_READ_AS) < 4096:  # bounded: hostile text may hold any character
            _READ_AS[ch] = known
    return known
