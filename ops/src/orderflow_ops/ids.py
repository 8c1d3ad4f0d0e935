"""Ids the simulators and the benchmark mint, shaped so they can never read as a card number.

The card-data rule refuses an id holding a standalone, brand-shaped, Luhn-valid run of 13-19
digits (a customer id ``4111111111111111`` is a card number, whoever sent it). Random hex ids
are all digits once in a few thousand; one in a few tens of thousands is then refused, and a
benchmark of thousands of orders loses one now and then. A letter right after the prefix glues
every digit run to a letter, so no run stands alone; and 16 characters at most keep any run
under the 16 digits the rule refuses even glued to letters (stop 44).
"""

from __future__ import annotations

import secrets
import uuid


def simulated_id(prefix: str, length: int = 16) -> str:
    """``<prefix>-`` and ``length`` hex characters, the first of them a letter."""
    if not 1 <= length <= 16:
        raise ValueError("an id has 1 to 16 hex characters")
    return f"{prefix}-{secrets.choice('abcdef')}{uuid.uuid4().hex[: length - 1]}"
