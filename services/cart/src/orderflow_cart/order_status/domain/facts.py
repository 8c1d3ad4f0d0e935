"""The reducer that adds one event to the facts known about one order
(:class:`~orderflow_cart.order_status.domain.order_facts.OrderFacts`).

Events of one order arrive on five topics, each read at its own pace: a ``PaymentCaptured`` may
be applied before its ``OrderPlaced``, a ``ShipmentDispatched`` before its
``FulfillmentRequested``. So nothing here is a state machine that refuses a transition: every
event only *adds* what it says to the facts, each kept under its own key (the payment, the
shipment, the RMA, the refund, the claim). :func:`apply` is therefore

* idempotent: applying an event twice gives the facts of applying it once;
* order-independent: applying a set of events in any order gives the same facts.

Where two events could both set one value (two cancellations, running refund totals) the rule
picks one that does not depend on arrival order (the earliest, the largest). The state a
storefront is shown is derived from the facts afterwards (``domain.view``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

from orderflow_contracts.events import (
    CartCheckedOut,
    Event,
    FulfillmentRequested,
    LineQuantity,
    OrderCancelled,
    OrderCompleted,
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    RefundFailed,
    RefundIssued,
    RefundRequested,
    ReplacementRequested,
    ReservationReleased,
    ReturnAuthorized,
    ReturnRefundStopCode,
    ReturnRefundStopped,
    ReturnRejected,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
    StockUnavailable,
    WarrantyClaimAccepted,
    WarrantyClaimRejected,
)
from orderflow_contracts.events.returns import ReturnRejectionCode

from orderflow_cart.order_status.domain.order_facts import (
    Cancellation,
    Claim,
    Line,
    OrderFacts,
    Outcome,
    Payment,
    Placed,
    PlacedLine,
    Refund,
    Rma,
    Shipment,
    StoppedRefund,
)


def _lines(items: Sequence[LineQuantity]) -> list[Line]:
    return [Line(sku=item.sku, quantity=item.quantity) for item in items]


def _placed(facts: OrderFacts, event: OrderPlaced, at: datetime) -> None:
    card = event.payment.card
    facts.placed = Placed(
        cart_id=event.cart_id,
        customer_id=event.customer_id,
        placed_at=at,
        currency=event.currency.value,
        lines=[
            PlacedLine(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for line in event.lines
        ],
        subtotal=event.subtotal,
        shipping_fee=event.shipping_fee,
        total=event.total,
        ship_to_country=event.ship_to.country,
        payment_method=event.payment.method,
        # Brand and last four digits only: what a receipt shows, never the token or expiry.
        card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None,
    )


def _checked_out(facts: OrderFacts, event: CartCheckedOut, at: datetime) -> None:
    facts.checked_out_cart_id = event.cart_id
    facts.checked_out_customer_id = event.customer_id


def _cancelled(facts: OrderFacts, event: OrderCancelled, at: datetime, event_id: UUID) -> None:
    candidate = Cancellation(code=event.reason, message=event.message, at=at, event_id=event_id)
    current = facts.cancelled
    # Two cancellations of one order (never expected) keep the earliest, whatever the arrival.
    if current is None or (candidate.at, str(candidate.event_id)) < (
        current.at,
        str(current.event_id),
    ):
        facts.cancelled = candidate


def _completed(facts: OrderFacts, event: OrderCompleted, at: datetime) -> None:
    facts.completed_at = at if facts.completed_at is None else min(facts.completed_at, at)


def _payment(facts: OrderFacts, payment_id: UUID) -> Payment:
    return facts.payments.setdefault(str(payment_id), Payment())


def _authorized(facts: OrderFacts, event: PaymentAuthorized, at: datetime) -> None:
    _payment(facts, event.payment_id).authorized = event.amount


def _declined(facts: OrderFacts, event: PaymentDeclined, at: datetime) -> None:
    _payment(facts, event.payment_id).declined = Outcome(
        code=event.reason_code, message=event.message
    )


def _captured(facts: OrderFacts, event: PaymentCaptured, at: datetime) -> None:
    _payment(facts, event.payment_id).captured = event.amount


def _voided(facts: OrderFacts, event: PaymentVoided, at: datetime) -> None:
    _payment(facts, event.payment_id).voided = Outcome(code=event.reason)


def _reserved(facts: OrderFacts, event: StockReserved, at: datetime) -> None:
    facts.stock_reserved_warehouses = sorted({a.warehouse_id for a in event.allocations})


def _unavailable(facts: OrderFacts, event: StockUnavailable, at: datetime) -> None:
    facts.stock_unavailable = [Line(sku=s.sku, quantity=s.requested) for s in event.short_lines]


def _released(facts: OrderFacts, event: ReservationReleased, at: datetime) -> None:
    facts.reservation_released = event.reason


def _shipment(facts: OrderFacts, shipment_id: UUID) -> Shipment:
    return facts.shipments.setdefault(str(shipment_id), Shipment())


def _requested(facts: OrderFacts, event: FulfillmentRequested, at: datetime) -> None:
    shipment = _shipment(facts, event.shipment_id)
    shipment.warehouse_id = event.warehouse_id
    shipment.shipping_service = event.shipping_service
    shipment.lines = _lines(event.lines)
    shipment.replacement = shipment.replacement or event.replacement
    shipment.warranty_claim_id = event.warranty_claim_id


def _dispatched(facts: OrderFacts, event: ShipmentDispatched, at: datetime) -> None:
    shipment = _shipment(facts, event.shipment_id)
    shipment.warehouse_id = event.warehouse_id
    shipment.carrier = event.carrier
    shipment.tracking_number = event.tracking_number
    shipment.dispatched_at = event.dispatched_at


def _delivered(facts: OrderFacts, event: ShipmentDelivered, at: datetime) -> None:
    shipment = _shipment(facts, event.shipment_id)
    shipment.delivered_at = event.delivered_at
    shipment.delivered_lines = _lines(event.lines)
    shipment.replacement = shipment.replacement or event.replacement


def _rma(facts: OrderFacts, rma_id: UUID) -> Rma:
    return facts.rmas.setdefault(str(rma_id), Rma())


def _return_authorized(facts: OrderFacts, event: ReturnAuthorized, at: datetime) -> None:
    rma = _rma(facts, event.rma_id)
    rma.return_request_id = event.return_request_id
    rma.lines = _lines(event.lines)
    rma.return_by = event.return_by.isoformat()
    # A request refused as malformed (or set aside) and then sent again right is authorised.
    facts.return_rejections.pop(event.return_request_id, None)


# Answers to a request that never reached a decision (a dead letter's): never in place of one.
_UNDECIDED: Final = frozenset(
    {ReturnRejectionCode.INVALID_REQUEST, ReturnRejectionCode.REQUEST_FAILED}
)


def _return_rejected(facts: OrderFacts, event: ReturnRejected, at: datetime) -> None:
    rid = event.return_request_id
    authorised = any(rma.return_request_id == rid for rma in facts.rmas.values())
    earlier = facts.return_rejections.get(rid)
    if authorised or (
        event.reason_code in _UNDECIDED and earlier is not None and earlier.code not in _UNDECIDED
    ):
        return  # a malformed copy of a request already decided changes nothing here
    facts.return_rejections[rid] = Outcome(code=event.reason_code, message=event.message)


def _refund_stopped(facts: OrderFacts, event: ReturnRefundStopped, at: datetime) -> None:
    rma = _rma(facts, event.rma_id)
    candidate = StoppedRefund(code=event.reason_code, message=event.message, at=at)
    current = rma.refund_stopped
    # A closing (nothing to refund) is final; otherwise the latest stop wins, in any order.
    if current is None or _stop_rank(candidate) > _stop_rank(current):
        rma.refund_stopped = candidate


def _stop_rank(stop: StoppedRefund) -> tuple[bool, datetime, str]:
    return (stop.code == ReturnRefundStopCode.NOTHING_TO_REFUND, stop.at, stop.code)


def _refund(facts: OrderFacts, refund_id: UUID) -> Refund:
    return facts.refunds.setdefault(str(refund_id), Refund())


def _refund_requested(facts: OrderFacts, event: RefundRequested, at: datetime) -> None:
    refund = _refund(facts, event.refund_id)
    refund.rma_id = event.rma_id
    refund.requested = event.amount
    if event.rma_id is not None:
        _rma(facts, event.rma_id).refund_requested = True


def _refund_issued(facts: OrderFacts, event: RefundIssued, at: datetime) -> None:
    refund = _refund(facts, event.refund_id)
    refund.rma_id = refund.rma_id or event.rma_id
    refund.issued = event.amount
    reported = facts.refunded_total_reported
    # Payment's running total only grows: the largest one seen is the latest, in any order.
    if reported is None or event.total_refunded > reported:
        facts.refunded_total_reported = event.total_refunded


def _refund_failed(facts: OrderFacts, event: RefundFailed, at: datetime) -> None:
    refund = _refund(facts, event.refund_id)
    refund.rma_id = refund.rma_id or event.rma_id
    refund.failed = Outcome(code=event.reason_code, message=event.message)


def _count_answer(refund: Refund, event: RefundRequested | RefundFailed, event_id: str) -> None:
    """A request, or a failure answering one (see :class:`Refund`), counted once each."""
    seen = refund.request_events if isinstance(event, RefundRequested) else refund.failure_events
    if event_id not in seen:
        seen.append(event_id)


def _claim(facts: OrderFacts, claim_id: str) -> Claim:
    return facts.claims.setdefault(claim_id, Claim())


def _claim_accepted(facts: OrderFacts, event: WarrantyClaimAccepted, at: datetime) -> None:
    claim = _claim(facts, event.claim_id)
    claim.sku, claim.quantity = event.sku, event.quantity
    claim.country_of_usage = event.country_of_usage
    claim.accepted = True
    ends = event.warranty_ends_on
    claim.warranty_ends_on = ends.isoformat() if ends else None


def _claim_rejected(facts: OrderFacts, event: WarrantyClaimRejected, at: datetime) -> None:
    _claim(facts, event.claim_id).rejected = Outcome(code=event.reason_code, message=event.message)


def _replacement(facts: OrderFacts, event: ReplacementRequested, at: datetime) -> None:
    _claim(facts, event.claim_id).replacement_lines = _lines(event.lines)


_REDUCERS: dict[type[Event], Callable[..., None]] = {
    OrderPlaced: _placed,
    CartCheckedOut: _checked_out,
    OrderCompleted: _completed,
    PaymentAuthorized: _authorized,
    PaymentDeclined: _declined,
    PaymentCaptured: _captured,
    PaymentVoided: _voided,
    StockReserved: _reserved,
    StockUnavailable: _unavailable,
    ReservationReleased: _released,
    FulfillmentRequested: _requested,
    ShipmentDispatched: _dispatched,
    ShipmentDelivered: _delivered,
    ReturnAuthorized: _return_authorized,
    ReturnRejected: _return_rejected,
    ReturnRefundStopped: _refund_stopped,
    RefundRequested: _refund_requested,
    RefundIssued: _refund_issued,
    RefundFailed: _refund_failed,
    WarrantyClaimAccepted: _claim_accepted,
    WarrantyClaimRejected: _claim_rejected,
    ReplacementRequested: _replacement,
}

ORDER_STATUS_EVENTS: tuple[type[Event], ...] = (*_REDUCERS, OrderCancelled)
"""Every event the projection reads: the handler is subscribed to exactly these."""


def order_id_of(event: Event) -> UUID:
    """The order an event is about (every one of :data:`ORDER_STATUS_EVENTS` names it)."""
    order_id = getattr(event, "order_id")  # noqa: B009 - every projected event has one
    assert isinstance(order_id, UUID)
    return order_id


def apply(facts: OrderFacts, event: Event, *, occurred_at: datetime, event_id: UUID) -> OrderFacts:
    """The facts with ``event`` added; ``facts`` itself is left as it was."""
    updated = facts.model_copy(deep=True)
    add(updated, event, occurred_at=occurred_at, event_id=event_id)
    return updated


def add(facts: OrderFacts, event: Event, *, occurred_at: datetime, event_id: UUID) -> None:
    """Add ``event`` to ``facts`` in place: :func:`apply` without the copy, for a caller that
    owns ``facts`` (the handler, on facts it just read). Deep-copying an order's facts cost
    more than everything else the projection does per event."""
    if order_id_of(event) != facts.order_id:
        raise ValueError(f"{event.event_type} is about another order than {facts.order_id}")
    if isinstance(event, OrderCancelled):
        _cancelled(facts, event, occurred_at, event_id)
    else:
        _REDUCERS[type(event)](facts, event, occurred_at)
    if isinstance(event, RefundRequested | RefundFailed):
        _count_answer(_refund(facts, event.refund_id), event, str(event_id))
    if facts.last_event_at is None or occurred_at > facts.last_event_at:
        facts.last_event_at = occurred_at
