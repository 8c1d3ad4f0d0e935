"""A dead-lettered return request or warranty claim is answered with its own id."""

from __future__ import annotations

import uuid

from orderflow_chassis.refusal_answers import RefusedRecord
from orderflow_contracts.events import ReturnRejected, WarrantyClaimRejected
from orderflow_returns.handlers.refused_requests import answer_refused_request

ORDER = str(uuid.uuid4())


def refused(
    event_type: str, *, by_handler: bool = False, key: str | None = ORDER, **ids: str
) -> RefusedRecord:
    return RefusedRecord(
        code="handler_failed" if by_handler else "invalid_event_data",
        reason="ValueError: internal" if by_handler else "data.reason: must not be blank",
        by_handler=by_handler,
        event_type=event_type,
        key=key,
        event_id=None,
        correlation_id=None,
        data_ids=ids,
    )


def test_a_refused_request_and_claim_are_answered_invalid_request_with_the_cause() -> None:
    request = answer_refused_request(refused("ReturnRequested", return_request_id="ret-1"))
    assert isinstance(request, ReturnRejected)
    assert (str(request.order_id), request.return_request_id) == (ORDER, "ret-1")
    assert request.reason_code == "invalid_request"
    assert "data.reason: must not be blank" in request.message
    claim = answer_refused_request(refused("WarrantyClaimFiled", claim_id="claim-1"))
    assert isinstance(claim, WarrantyClaimRejected)
    assert (claim.claim_id, claim.reason_code) == ("claim-1", "invalid_request")


def test_one_set_aside_by_returns_is_answered_request_failed_without_the_cause() -> None:
    answer = answer_refused_request(
        refused("ReturnRequested", by_handler=True, return_request_id="ret-1")
    )
    assert isinstance(answer, ReturnRejected)
    assert answer.reason_code == "request_failed"
    assert "internal" not in answer.message


def test_what_names_no_order_or_request_is_not_answered() -> None:
    assert answer_refused_request(refused("ReturnRequested")) is None
    assert (
        answer_refused_request(refused("ReturnRequested", key=None, return_request_id="r")) is None
    )
    assert (
        answer_refused_request(refused("ReturnRequested", key="no-uuid", return_request_id="r"))
        is None
    )
    assert answer_refused_request(refused("ReturnParcelReceived", rma_id=ORDER)) is None
