"""What the consumer says about a failed handler: the reason a dead letter carries."""

from __future__ import annotations

import traceback
from collections.abc import Sequence

from orderflow_chassis.errors import PermanentError, describe_error

HANDLER_FAILED = "handler_failed"


def history_reason(history: Sequence[str]) -> str:
    """The last failure first (what ops filter on), then how often and every distinct one."""
    distinct = list(dict.fromkeys(history))
    if len(distinct) == 1:
        return f"{history[-1]} (failed {len(history)} times, the same way each time)"
    return f"{history[-1]} (failed {len(history)} times: " + " | ".join(distinct) + ")"


def describe_failure(error: BaseException) -> tuple[str, str]:
    if isinstance(error, PermanentError):
        return error.code, error.reason
    # An unexpected exception is a bug: dead-letter it (replayable after the fix) rather
    # than block the partition forever. The last frame says where it happened.
    frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    return HANDLER_FAILED, f"{describe_error(error)}{where}"
