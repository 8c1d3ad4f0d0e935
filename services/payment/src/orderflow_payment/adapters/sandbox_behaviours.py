"""How the sandbox provider behaves for a test token, and the references it answers with.

The part of a token after ``tok_<method>_`` chooses the behaviour (see the payment README).
"""

from __future__ import annotations

import base64
import hashlib
import re

from orderflow_contracts.events.payments import PaymentDeclineCode

_BEHAVIOURS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:^|_)decline_(insufficient_funds|do_not_honour|expired_card)$"), "decline_"),
    (re.compile(r"(?:^|_)(fraud)$"), ""),
    (re.compile(r"(?:^|_)timeout_([1-9])$"), "timeout_"),
    (re.compile(r"(?:^|_)5xx_([1-9])$"), "5xx_"),
    (re.compile(r"(?:^|_)(unavailable)$"), ""),
    (re.compile(r"(?:^|_)(refund_refused)$"), ""),
    (re.compile(r"(?:^|_)(invalid)$"), ""),
)

DECLINES: dict[str, tuple[str, str]] = {
    "decline_insufficient_funds": (
        PaymentDeclineCode.INSUFFICIENT_FUNDS,
        "The card has insufficient funds.",
    ),
    "decline_do_not_honour": (PaymentDeclineCode.DO_NOT_HONOUR, "The issuer declined the card."),
    "decline_expired_card": (PaymentDeclineCode.EXPIRED_CARD, "The card has expired."),
    "fraud": (PaymentDeclineCode.FRAUD_SUSPECTED, "The payment was flagged as likely fraud."),
    "invalid": (PaymentDeclineCode.INVALID_TOKEN, "The payment token is not valid."),
}


MESSAGES: dict[str, str] = {
    **{str(code): message for code, message in DECLINES.values()},
    "provider_refused": "The provider refused the refund.",
    "exceeds_captured": "The refund exceeds the captured amount.",
}


def behaviour_of(token: str) -> str:
    """The sandbox behaviour a test token asks for; ``approve`` when none is recognised."""
    for pattern, prefix in _BEHAVIOURS:
        match = pattern.search(token)
        if match:
            return prefix + match.group(1)
    return "approve"


def failing_attempts(behaviour: str) -> tuple[str, int]:
    """(``timeout``/``unavailable``/``""``, how many first attempts of each operation fail)."""
    if behaviour.startswith("timeout_"):
        return "timeout", int(behaviour.removeprefix("timeout_"))
    if behaviour.startswith("5xx_"):
        return "unavailable", int(behaviour.removeprefix("5xx_"))
    if behaviour == "unavailable":
        return "unavailable", 10**9
    return "", 0


_PREFIXES = {"authorise": "auth", "capture": "cap", "void": "void", "refund": "rfd"}


def sandbox_reference(operation: str, idempotency_key: str) -> str:
    """Deterministic per key; base32 letters so it can never look like a card number."""
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return f"sbx_{_PREFIXES[operation]}_{base64.b32encode(digest).decode()[:20].lower()}"
