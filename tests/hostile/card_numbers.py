"""Card numbers for the fuzzer: generated ones, and a scan for exactly those in stored text.

The scan looks for the card numbers the run itself injected (digits only, whatever spaces or
hyphens were put between them), not for "anything that passes Luhn": a 13-digit epoch in
milliseconds passes Luhn one time in ten, and a scan that cries wolf is worse than none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from hypothesis import strategies as st

# Well-known test numbers (Visa, MasterCard, Amex, Discover, JCB, Diners, Maestro 19 digits).
KNOWN_TEST_PANS = (
    "4111111111111111",
    "4242424242424242",
    "5555555555554444",
    "5105105105105100",
    "378282246310005",
    "6011111111111117",
    "3530111333300000",
    "30569309025904",
    "6759649826438453",
    "6304000000000000000",
)


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these become the odd positions once the digit is added
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


# (IIN prefix, length) of the brands the documented rule knows (orderflow_contracts.card_data):
# the rule refuses a standalone Luhn-valid run in an id or key only when it is brand-shaped.
_BRAND_SHAPES = (
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("3530", 16),
    ("62", 17),
    ("36", 14),
)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A brand-shaped number passing Luhn: a known test card or a generated one."""
    if draw(st.booleans()):
        return draw(st.sampled_from(KNOWN_TEST_PANS))
    prefix, length = draw(st.sampled_from(_BRAND_SHAPES))
    body = prefix + draw(
        st.text(
            alphabet="0123456789",
            min_size=length - 1 - len(prefix),
            max_size=length - 1 - len(prefix),
        )
    )
    return body + luhn_check_digit(body)


def grouped(pan: str, separator: str) -> str:
    """``4111111111111111`` -> ``4111 1111 1111 1111`` (as people type them)."""
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def json_escaped(pan: str) -> str:
    """The number as JSON ``\\u00XX`` escapes: the same string once decoded."""
    return "".join(f"\\u{ord(char):04x}" for char in pan)


_DIGIT_RUN = re.compile(r"[0-9](?:[0-9 \-]*[0-9])?")


@dataclass
class CardNumberScan:
    """Finds any of ``pans`` in text, however it was split by spaces or hyphens."""

    pans: frozenset[str]
    findings: list[str] = field(default_factory=list)

    def _hits(self, text: str) -> set[str]:
        hits: set[str] = set()
        for run in _DIGIT_RUN.findall(text):
            digits = run.replace(" ", "").replace("-", "")
            if len(digits) < 13:
                continue
            for size in range(13, 20):
                for start in range(0, len(digits) - size + 1):
                    if digits[start : start + size] in self.pans:
                        hits.add(digits[start : start + size])
        return hits

    def check(self, where: str, text: str) -> None:
        """Record a finding for every injected card number in ``text`` (and, if it is JSON,
        in its decoded strings: ``\\u0034...`` escapes hide digits from a byte scan)."""
        hits = self._hits(text)
        decoded = _decoded_json(text)
        if decoded is not None:
            hits |= self._hits(decoded)
        for pan in sorted(hits):
            self.findings.append(f"{where}: card number ending {pan[-4:]} ({len(pan)} digits)")

    def check_bytes(self, where: str, raw: bytes | None) -> None:
        if raw:
            self.check(where, raw.decode("utf-8", "replace"))

    def check_all(self, where: str, texts: Iterable[str]) -> None:
        for text in texts:
            self.check(where, text)


def _decoded_json(text: str) -> str | None:
    if "\\u" not in text:
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    try:
        return json.dumps(document, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
