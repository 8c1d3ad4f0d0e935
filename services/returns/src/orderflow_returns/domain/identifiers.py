"""Ids this service mints, derived from what they answer so that a repeated fact (a redelivered
event, the same request sent twice with new event ids) can never mint a second one."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("4f6c2d1e-8a3b-5c7d-9e0f-1a2b3c4d5e6f")


def rma_id_for(order_id: uuid.UUID, return_request_id: str) -> uuid.UUID:
    """One RMA per (order, storefront return request)."""
    return uuid.uuid5(_NAMESPACE, f"rma:{order_id}:{return_request_id}")


def refund_id_for(rma_id: uuid.UUID, attempt: int = 1) -> uuid.UUID:
    """The refund of an RMA; ``attempt`` > 1 only when ops retry a failed refund."""
    if attempt < 1:
        raise ValueError("refund attempts count from 1")
    return uuid.uuid5(_NAMESPACE, f"refund:{rma_id}:{attempt}")
