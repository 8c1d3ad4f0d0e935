"""Provider tokens are secrets of a kind: logs and tables only ever see them masked."""

from __future__ import annotations

_VISIBLE = 4


def mask_token(token: str) -> str:
    """``tok_visa_approve`` -> ``tok_…rove``; short tokens are hidden entirely.

    Enough to tell two tokens apart in a support ticket, never enough to use one.
    """
    if len(token) <= 2 * _VISIBLE + 2:
        return "…" * 3
    return f"{token[:_VISIBLE]}…{token[-_VISIBLE:]}"
