"""The status a storefront shows, derived from an order's facts by one pure function.

:func:`order_view` reads only the facts (and the store's shared after-sales policy), so the same
facts always give the same view: the view is as order-independent as :func:`~.facts.apply`.
Amounts are in the order's currency; no card data beyond the brand and the last four digits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from orderflow_contracts.events import ReturnRefundStopCode
from orderflow_contracts.money import Money
from orderflow_contracts.policies import (
    DEFAULT_RETURN_WINDOW,
    DEFAULT_WARRANTY_POLICY,
    ReturnWindow,
    WarrantyPolicy,
    warranty_end,
)

from orderflow_cart.order_status.domain.order_facts import Line, OrderFacts, Outcome, Shipment
from orderflow_cart.order_status.domain.status import (
    Amounts,
    LineView,
    OrderState,
    OrderStatus,
    PaymentView,
    Reason,
    RefundView,
    ReturnRejectionView,
    ReturnView,
    ShipmentView,
    WarrantyClaimView,
)


def order_view(
    facts: OrderFacts,
    *,
    window: ReturnWindow = DEFAULT_RETURN_WINDOW,
    warranty: WarrantyPolicy = DEFAULT_WARRANTY_POLICY,
) -> OrderStatus:
    placed = facts.placed
    originals = {sid: s for sid, s in facts.shipments.items() if not s.replacement}
    deliveries = _latest_delivery_per_sku(originals.values())
    all_delivered = bool(originals) and all(s.delivered_at for s in originals.values())
    lines: list[LineView] = []
    if placed is not None:
        for line in placed.lines:
            delivered_at = deliveries.get(line.sku)
            lines.append(
                LineView(
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    line_total=line.line_total,
                    delivered=_units(line.sku, (s.delivered_lines for s in originals.values())),
                    returned=_units(line.sku, (r.lines for r in facts.rmas.values())),
                    return_window_ends_on=window.last_day(delivered_at) if delivered_at else None,
                    warranty_country=placed.ship_to_country,
                    warranty_ends_on=warranty_end(
                        placed.ship_to_country, delivered_at, policy=warranty, window=window
                    )
                    if delivered_at
                    else None,
                )
            )
    window_ends = [line.return_window_ends_on for line in lines if line.return_window_ends_on]
    authorised_requests = {rma.return_request_id for rma in facts.rmas.values()}
    return OrderStatus(
        order_id=facts.order_id,
        cart_id=placed.cart_id if placed else facts.checked_out_cart_id,
        customer_id=placed.customer_id if placed else facts.checked_out_customer_id,
        state=_state(facts, originals, all_delivered),
        cancellation=_reason(facts.cancelled),
        placed_at=placed.placed_at if placed else None,
        currency=placed.currency if placed else None,
        lines=lines,
        amounts=_amounts(facts),
        payment=_payment(facts),
        shipments=[_shipment(sid, s) for sid, s in sorted(facts.shipments.items(), key=_by_time)],
        delivered_at=max(s.delivered_at for s in originals.values() if s.delivered_at)
        if all_delivered
        else None,
        return_window_ends_on=max(window_ends) if window_ends else None,
        returns=[_return(rid, facts) for rid in sorted(facts.rmas)],
        return_rejections=[
            ReturnRejectionView(return_request_id=rid, reason=Reason(**why.model_dump()))
            for rid, why in sorted(facts.return_rejections.items())
            # Facts stored before an authorisation cleared its request's rejection (facts.py).
            if rid not in authorised_requests
        ],
        refunds=[_refund(rid, facts) for rid in sorted(facts.refunds)],
        warranty_claims=[_claim(cid, facts) for cid in sorted(facts.claims)],
        out_of_stock=facts.stock_unavailable,
        last_event_at=facts.last_event_at,
    )


def _state(facts: OrderFacts, originals: dict[str, Shipment], all_delivered: bool) -> OrderState:
    if facts.cancelled is not None:
        return OrderState.CANCELLED
    if facts.placed is None:
        return OrderState.AWAITING_ORDER
    captured, refunded = _captured(facts), _refunded(facts)
    if captured is not None and refunded is not None and refunded.is_positive:
        return OrderState.RETURNED if refunded >= captured else OrderState.PARTIALLY_REFUNDED
    if facts.completed_at is not None:
        return OrderState.COMPLETED
    if all_delivered:
        return OrderState.DELIVERED
    # The reservation says how many warehouses (so shipments) the order needs, even before
    # every shipment request has been seen.
    expected = max(len(facts.stock_reserved_warehouses), len(originals))
    left = [s for s in originals.values() if s.dispatched_at or s.delivered_at]
    if left:
        return OrderState.SHIPPED if len(left) >= expected else OrderState.PARTIALLY_SHIPPED
    if captured is not None:
        return OrderState.PAID
    return OrderState.PLACED


def _in_order_currency(facts: OrderFacts, amounts: list[Money | None]) -> list[Money]:
    """The amounts in the order's currency (its ``OrderPlaced``'s, else the first seen). An
    event in another one is refused once the order is known (``facts.add``); one read before
    its order must not make every later render raise: it is not this order's money."""
    present = [amount for amount in amounts if amount is not None]
    if not present:
        return []
    currency = facts.placed.currency if facts.placed is not None else present[0].currency
    return [amount for amount in present if amount.currency == currency]


def _captured(facts: OrderFacts) -> Money | None:
    amounts = _in_order_currency(facts, [p.captured for p in facts.payments.values()])
    return Money.total(amounts, amounts[0].currency) if amounts else None


def _refunded(facts: OrderFacts) -> Money | None:
    """What payment refunded: its running total, or the refunds issued if larger."""
    issued = _in_order_currency(facts, [r.issued for r in facts.refunds.values()])
    candidates = [Money.total(issued, issued[0].currency)] if issued else []
    candidates += _in_order_currency(facts, [facts.refunded_total_reported])
    if len({money.currency for money in candidates}) > 1:  # no order yet: the first seen
        candidates = [money for money in candidates if money.currency == candidates[0].currency]
    return max(candidates, key=lambda money: money.amount) if candidates else None


def _amounts(facts: OrderFacts) -> Amounts | None:
    placed = facts.placed
    if placed is None:
        return None
    zero = Money.zero(placed.currency)
    authorized = _in_order_currency(facts, [p.authorized for p in facts.payments.values()])
    captured = _captured(facts) or zero
    refunded = _refunded(facts) or zero
    return Amounts(
        subtotal=placed.subtotal,
        shipping_fee=placed.shipping_fee,
        total=placed.total,
        authorized=Money.total(authorized, placed.currency),
        captured=captured,
        # Payment never refunds more than it captured; a refund read before its capture must
        # not show more either.
        refunded=min(refunded, captured, key=lambda money: money.amount),
    )


def _payment(facts: OrderFacts) -> PaymentView | None:
    placed = facts.placed
    if placed is None:
        return None
    payments = facts.payments.values()
    declined = next((p.declined for p in payments if p.declined), None)
    if any(p.captured for p in payments):
        status = "captured"
    elif any(p.voided for p in payments):
        status = "voided"
    elif any(p.authorized for p in payments):
        status = "authorized"
    elif declined is not None:
        status = "declined"
    else:
        status = "pending"
    return PaymentView(
        method=placed.payment_method,
        card_brand=placed.card_brand,
        card_last4=placed.card_last4,
        status=status,
        declined=_reason(declined),
    )


def _shipment(shipment_id: str, shipment: Shipment) -> ShipmentView:
    status = (
        "delivered"
        if shipment.delivered_at
        else "dispatched"
        if shipment.dispatched_at
        else "requested"
    )
    return ShipmentView(
        shipment_id=UUID(shipment_id),
        status=status,
        warehouse_id=shipment.warehouse_id,
        shipping_service=shipment.shipping_service,
        lines=shipment.lines or shipment.delivered_lines,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        dispatched_at=shipment.dispatched_at,
        delivered_at=shipment.delivered_at,
        replacement=shipment.replacement,
        warranty_claim_id=shipment.warranty_claim_id,
    )


def _return(rma_id: str, facts: OrderFacts) -> ReturnView:
    rma = facts.rmas[rma_id]
    refunds = [
        r for r in facts.refunds.values() if r.rma_id is not None and str(r.rma_id) == rma_id
    ]
    stopped, why_stopped = rma.refund_stopped, None
    if any(r.issued for r in refunds):
        status = "refunded"
    elif stopped is not None and stopped.code == ReturnRefundStopCode.NOTHING_TO_REFUND:
        status, why_stopped = "closed", stopped  # final, even after failed attempts
    elif refunds and all(r.is_failed for r in refunds):
        status = "refund_failed"  # and no retry (a new id, or the same) is waiting for its answer
    elif rma.refund_requested or refunds:
        status = "refund_requested"  # including ops' retry of a stopped refund
    elif stopped is not None:
        status, why_stopped = "refund_failed", stopped  # returns refused it: ops must act
    else:
        status = "authorized"
    return ReturnView(
        rma_id=UUID(rma_id),
        return_request_id=rma.return_request_id,
        status=status,
        lines=rma.lines,
        return_by=date.fromisoformat(rma.return_by) if rma.return_by else None,
        refund_stopped=_reason(why_stopped),
    )


def _refund(refund_id: str, facts: OrderFacts) -> RefundView:
    refund = facts.refunds[refund_id]
    # Issued wins over failed: a refund retried after a failure keeps its id.
    status = "issued" if refund.issued else "failed" if refund.is_failed else "requested"
    return RefundView(
        refund_id=UUID(refund_id),
        rma_id=refund.rma_id,
        status=status,
        amount=refund.issued or refund.requested,
        failure=_reason(refund.failed) if status == "failed" else None,
    )


def _claim(claim_id: str, facts: OrderFacts) -> WarrantyClaimView:
    claim = facts.claims[claim_id]
    replacement = next(
        (UUID(sid) for sid, s in facts.shipments.items() if s.warranty_claim_id == claim_id),
        None,
    )
    return WarrantyClaimView(
        claim_id=claim_id,
        status="accepted" if claim.accepted else "rejected" if claim.rejected else "filed",
        sku=claim.sku,
        quantity=claim.quantity,
        country_of_usage=claim.country_of_usage,
        warranty_ends_on=date.fromisoformat(claim.warranty_ends_on)
        if claim.warranty_ends_on
        else None,
        rejection=None if claim.accepted else _reason(claim.rejected),
        replacement_shipment_id=replacement,
    )


def _reason(outcome: Outcome | None) -> Reason | None:
    return None if outcome is None else Reason(code=outcome.code, message=outcome.message)


def _units(sku: str, groups: Iterable[list[Line] | None]) -> int:
    return sum(line.quantity for lines in groups for line in lines or () if line.sku == sku)


def _latest_delivery_per_sku(shipments: Iterable[Shipment]) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for shipment in shipments:
        if shipment.delivered_at is None:
            continue
        for line in shipment.delivered_lines or shipment.lines or ():
            current = latest.get(line.sku)
            if current is None or shipment.delivered_at > current:
                latest[line.sku] = shipment.delivered_at
    return latest


def _by_time(item: tuple[str, Shipment]) -> tuple[str, str]:
    shipment_id, shipment = item
    moment = shipment.dispatched_at or shipment.delivered_at
    return (moment.isoformat() if moment else "9999", shipment_id)
