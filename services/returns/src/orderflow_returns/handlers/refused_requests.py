"""A return request or warranty claim that is dead-lettered is answered all the same, so the
storefront waiting on it hears why (as the cart answers a checkout: decision 91).

Refused before returns saw it (it breaks the contract, or holds card data): ``invalid_request``
with the cause. Set aside by returns itself (a failure its retries did not get past):
``request_failed``, the cause kept in the dead letter for ops. A request whose order id (the
key) or own id cannot be read cannot be answered.
"""

from __future__ import annotations

from typing import Final

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

# The field of each request's data that names it, which its answer names too.
_REQUEST_ID_FIELDS: Final = {
    ReturnRequested.event_type: "return_request_id",
    WarrantyClaimFiled.event_type: "claim_id",
}


def _rejection(
    event_type: str | None, order_id: object, request_id: object, *, failed: bool, message: str
) -> ReturnRejected | WarrantyClaimRejected | None:
    """The answer to a request of ``event_type`` (None for another type): ``request_failed``
    when returns set it aside itself, ``invalid_request`` when it was refused. Raises
    ``ValidationError`` for ids no answer takes."""
    if event_type == ReturnRequested.event_type:
        codes: type[ReturnRejectionCode] | type[WarrantyRejectionCode] = ReturnRejectionCode
        answer: type[ReturnRejected] | type[WarrantyClaimRejected] = ReturnRejected
    elif event_type == WarrantyClaimFiled.event_type:
        codes, answer = WarrantyRejectionCode, WarrantyClaimRejected
    else:
        return None
    return answer.model_validate(
        {
            "order_id": order_id,
            _REQUEST_ID_FIELDS[event_type]: request_id,
            "reason_code": codes.REQUEST_FAILED if failed else codes.INVALID_REQUEST,
            "message": clip_text(message),
        }
    )


def request_failed(
    event: ReturnRequested | WarrantyClaimFiled, message: str
) -> ReturnRejected | WarrantyClaimRejected:
    """The ``request_failed`` answer to a request returns set aside itself."""
    request_id = getattr(event, _REQUEST_ID_FIELDS[event.event_type])
    answer = _rejection(event.event_type, event.order_id, request_id, failed=True, message=message)
    assert answer is not None, "a request of a type with an answer"
    return answer


def answer_refused_request(refused: RefusedRecord) -> ReturnRejected | WarrantyClaimRejected | None:
    if refused.key is None:
        return None
    if refused.by_handler:
        message = (
            f"the request could not be processed and was set aside for ops ({refused.code}); "
            "nothing was decided: send it again later"
        )
    else:
        message = f"the request was refused ({refused.code}): {refused.reason}"
    field = _REQUEST_ID_FIELDS.get(refused.event_type or "")
    if field is None or field not in refused.data_ids:
        return None
    try:
        return _rejection(
            refused.event_type,
            refused.key,
            refused.data_ids[field],
            failed=refused.by_handler,
            message=message,
        )
    except ValidationError:  # an id that is no order id (the key), request id or claim id
        return None
