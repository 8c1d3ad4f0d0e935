"""A return request or warranty claim that is dead-lettered is answered all the same, so the
storefront waiting on it hears why (as the cart answers a checkout: decision 91).

Refused before returns saw it (it breaks the contract, or holds card data): ``invalid_request``
with the cause. Set aside by returns itself (a failure its retries did not get past):
``request_failed``, the cause kept in the dead letter for ops. A request whose order id (the
key) or own id cannot be read cannot be answered.
"""

from __future__ import annotations

from orderflow_chassis.refusal_answers import RefusedRecord
from orderflow_contracts.events import (
    ReturnRejected,
    ReturnRequested,
    WarrantyClaimFiled,
    WarrantyClaimRejected,
)
from orderflow_contracts.events.returns import ReturnRejectionCode, WarrantyRejectionCode
from orderflow_contracts.primitives import clip_text
from pydantic import ValidationError


def request_failed(
    event: ReturnRequested | WarrantyClaimFiled, message: str
) -> ReturnRejected | WarrantyClaimRejected:
    """The ``request_failed`` answer to a request returns set aside itself."""
    if isinstance(event, ReturnRequested):
        return ReturnRejected(
            order_id=event.order_id,
            return_request_id=event.return_request_id,
            reason_code=ReturnRejectionCode.REQUEST_FAILED,
            message=clip_text(message),
        )
    return WarrantyClaimRejected(
        order_id=event.order_id,
        claim_id=event.claim_id,
        reason_code=WarrantyRejectionCode.REQUEST_FAILED,
        message=clip_text(message),
    )


def answer_refused_request(refused: RefusedRecord) -> ReturnRejected | WarrantyClaimRejected | None:
    if refused.key is None:
        return None
    if refused.by_handler:
        failed = True
        message = (
            f"the request could not be processed and was set aside for ops ({refused.code}); "
            "nothing was decided: send it again later"
        )
    else:
        failed = False
        message = f"the request was refused ({refused.code}): {refused.reason}"
    ids, message = refused.data_ids, clip_text(message)
    try:
        if refused.event_type == ReturnRequested.event_type and "return_request_id" in ids:
            codes = ReturnRejectionCode
            return ReturnRejected.model_validate(
                {
                    "order_id": refused.key,
                    "return_request_id": ids["return_request_id"],
                    "reason_code": codes.REQUEST_FAILED if failed else codes.INVALID_REQUEST,
                    "message": message,
                }
            )
        if refused.event_type == WarrantyClaimFiled.event_type and "claim_id" in ids:
            claim_codes = WarrantyRejectionCode
            return WarrantyClaimRejected.model_validate(
                {
                    "order_id": refused.key,
                    "claim_id": ids["claim_id"],
                    "reason_code": (
                        claim_codes.REQUEST_FAILED if failed else claim_codes.INVALID_REQUEST
                    ),
                    "message": message,
                }
            )
    except ValidationError:  # an id that is no order id (the key), request id or claim id
        return None
    return None
