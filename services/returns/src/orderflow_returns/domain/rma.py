"""The life of a return authorisation (RMA), as guarded state transitions.

A transition not in ``ALLOWED`` is not applied: a repeated or late fact (a second parcel scan,
a RefundIssued delivered twice) then changes nothing, which keeps handlers idempotent at the
domain level and not only by the inbox.
"""

from __future__ import annotations

from enum import StrEnum


class RmaState(StrEnum):
    AUTHORISED = "authorised"  # the customer may send the parcel
    RECEIVED = "received"  # parcel in; refund waits for the order's prices (OrderPlaced)
    REFUND_REQUESTED = "refund_requested"  # RefundRequested published; payment is on it
    REFUND_FAILED = "refund_failed"  # payment failed it, or it was stopped: ops must act
    CLOSED = "closed"  # refunded (or nothing to refund): done


ALLOWED: frozenset[tuple[RmaState, RmaState]] = frozenset(
    {
        (RmaState.AUTHORISED, RmaState.RECEIVED),
        (RmaState.AUTHORISED, RmaState.REFUND_REQUESTED),
        (RmaState.AUTHORISED, RmaState.REFUND_FAILED),
        (RmaState.AUTHORISED, RmaState.CLOSED),
        (RmaState.RECEIVED, RmaState.REFUND_REQUESTED),
        (RmaState.RECEIVED, RmaState.REFUND_FAILED),
        (RmaState.RECEIVED, RmaState.CLOSED),
        (RmaState.REFUND_REQUESTED, RmaState.CLOSED),
        (RmaState.REFUND_REQUESTED, RmaState.REFUND_FAILED),
        (RmaState.REFUND_FAILED, RmaState.REFUND_REQUESTED),  # ops retry
        (RmaState.REFUND_FAILED, RmaState.CLOSED),  # payment issued it after all
    }
)


def can_move(current: RmaState, target: RmaState) -> bool:
    return (current, target) in ALLOWED
