"""One valid example of every event of the contract, as decoded JSON (`example_data`) or as a
model (`example_event`): for documentation, tests and simulators. Pure data."""

from __future__ import annotations

import copy
from typing import Any, Final

from orderflow_contracts.events.base import Event
from orderflow_contracts.registry import EVENT_TYPES

ORDER_ID: Final = "5f0c6a8e-3c1b-4d7e-9a52-0b6f1d2e3a4b"
SHIPMENT_ID: Final = "9b2d7c4e-1f3a-4e5b-8c6d-7e8f9a0b1c2d"
RMA_ID: Final = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
PAYMENT_ID: Final = "6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f"
REFUND_ID: Final = "2f3e4d5c-6b7a-4988-a776-655443322110"


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


_ADDRESS = {
    "recipient_name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}

_EXAMPLES: dict[str, dict[str, Any]] = {
    # storefront.carts
    "CartItemAdded": {"cart_id": "cart-42", "sku": "MB-SPIKY-8CM", "quantity": 2},
    "CartItemRemoved": {"cart_id": "cart-42", "sku": "MB-SPIKY-8CM"},
    "CartItemQuantityChanged": {"cart_id": "cart-42", "sku": "MB-SPIKY-8CM", "quantity": 3},
    "CartCurrencySelected": {"cart_id": "cart-42", "currency": "EUR"},
    "CheckoutRequested": {
        "cart_id": "cart-42",
        "customer_id": "cust-7",
        "email": "ada@example.com",
        "shipping_address": {**_ADDRESS},
        "payment": {
            "method": "visa",
            "provider_token": "tok_visa_approve",
            "card": {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030},
        },
    },
    # carts
    "CheckoutRejected": {
        "cart_id": "cart-42",
        "reasons": [
            {"code": "unknown_sku", "message": "SKU XX-1 is not sold", "sku": "XX-1"},
            {"code": "unsupported_currency", "message": "We do not sell in XYZ"},
        ],
    },
    "CartCheckedOut": {"cart_id": "cart-42", "order_id": ORDER_ID, "customer_id": "cust-7"},
    "CartAbandoned": {
        "cart_id": "cart-43",
        "last_activity_at": "2025-01-30T10:00:00Z",
        "lines": [{"sku": "MB-SPIKY-8CM", "quantity": 1}],
        "subtotal": _eur("9.25"),
    },
    # orders
    "OrderPlaced": {
        "order_id": ORDER_ID,
        "cart_id": "cart-42",
        "customer_id": "cust-7",
        "email": "ada@example.com",
        "lines": [
            {
                "sku": "MB-SPIKY-8CM",
                "name": "Spiky massage ball 8 cm",
                "quantity": 2,
                "unit_price": _eur("9.25"),
                "line_total": _eur("18.50"),
            },
            {
                "sku": "NS-ADJ-M",
                "name": "Night splint, size M",
                "quantity": 1,
                "unit_price": _eur("36.94"),
                "line_total": _eur("36.94"),
            },
        ],
        "currency": "EUR",
        "subtotal": _eur("55.44"),
        "shipping_fee": _eur("0.00"),
        "total": _eur("55.44"),
        "base_subtotal": {"amount": "60.03", "currency": "USD"},
        "fx": {
            "base_currency": "USD",
            "quote_currency": "EUR",
            "rate": "0.9235",
            "as_of": "2025-01-31T00:00:00Z",
            "source": "seed-file",
        },
        "ship_to": {**_ADDRESS},
        "payment": {
            "method": "visa",
            "provider_token": "tok_visa_approve",
            "card": {"brand": "visa", "last4": "4242", "expiry_month": 12, "expiry_year": 2030},
        },
    },
    "OrderCancelled": {
        "order_id": ORDER_ID,
        "reason": "payment_declined",
        "message": "The card was declined.",
    },
    "OrderCompleted": {"order_id": ORDER_ID},
    # payments
    "PaymentAuthorized": {
        "order_id": ORDER_ID,
        "payment_id": PAYMENT_ID,
        "amount": _eur("55.44"),
        "method": "visa",
        "provider": "sandbox",
        "provider_reference": "auth_123",
        "expires_at": "2025-02-07T12:00:00Z",
    },
    "PaymentDeclined": {
        "order_id": ORDER_ID,
        "payment_id": PAYMENT_ID,
        "amount": _eur("55.44"),
        "reason_code": "insufficient_funds",
        "message": "Insufficient funds",
        "provider": "sandbox",
    },
    "PaymentCaptured": {
        "order_id": ORDER_ID,
        "payment_id": PAYMENT_ID,
        "amount": _eur("55.44"),
        "provider": "sandbox",
        "provider_reference": "cap_123",
    },
    "PaymentVoided": {
        "order_id": ORDER_ID,
        "payment_id": PAYMENT_ID,
        "amount": _eur("55.44"),
        "reason": "stock_unavailable",
        "provider": "sandbox",
        "provider_reference": "void_123",
    },
    "RefundIssued": {
        "order_id": ORDER_ID,
        "refund_id": REFUND_ID,
        "payment_id": PAYMENT_ID,
        "amount": _eur("18.50"),
        "total_refunded": _eur("18.50"),
        "rma_id": RMA_ID,
        "provider": "sandbox",
        "provider_reference": "ref_123",
    },
    "RefundFailed": {
        "order_id": ORDER_ID,
        "refund_id": REFUND_ID,
        "amount": _eur("99.00"),
        "reason_code": "exceeds_captured",
        "message": "Only 55.44 EUR was captured",
        "rma_id": RMA_ID,
    },
    # fulfillment
    "StockReserved": {
        "order_id": ORDER_ID,
        "allocations": [
            {"warehouse_id": "EU-CENTRAL", "sku": "MB-SPIKY-8CM", "quantity": 2},
            {"warehouse_id": "US-EAST", "sku": "NS-ADJ-M", "quantity": 1},
        ],
        "expires_at": "2025-01-31T12:30:00Z",
    },
    "StockUnavailable": {
        "order_id": ORDER_ID,
        "short_lines": [{"sku": "NS-ADJ-M", "requested": 5, "available": 2}],
    },
    "ReservationReleased": {
        "order_id": ORDER_ID,
        "reason": "payment_declined",
        "allocations": [{"warehouse_id": "EU-CENTRAL", "sku": "MB-SPIKY-8CM", "quantity": 2}],
    },
    "FulfillmentRequested": {
        "order_id": ORDER_ID,
        "shipment_id": SHIPMENT_ID,
        "warehouse_id": "EU-CENTRAL",
        "lines": [{"sku": "MB-SPIKY-8CM", "name": "Spiky massage ball 8 cm", "quantity": 2}],
        "ship_to": {**_ADDRESS},
        "shipping_service": "standard",
        "replacement": False,
    },
    "ShipmentDispatched": {
        "order_id": ORDER_ID,
        "shipment_id": SHIPMENT_ID,
        "warehouse_id": "EU-CENTRAL",
        "carrier": "DHL",
        "tracking_number": "JD014600003828383",
        "dispatched_at": "2025-02-01T09:00:00Z",
    },
    "ShipmentDelivered": {
        "order_id": ORDER_ID,
        "shipment_id": SHIPMENT_ID,
        "lines": [{"sku": "MB-SPIKY-8CM", "quantity": 2}],
        "delivered_at": "2025-02-03T15:00:00Z",
    },
    "ReplacementRequested": {
        "order_id": ORDER_ID,
        "claim_id": "claim-9",
        "lines": [{"sku": "NS-ADJ-M", "quantity": 1}],
        "ship_to": {**_ADDRESS},
    },
    "ReturnRestocked": {
        "order_id": ORDER_ID,
        "rma_id": RMA_ID,
        "warehouse_id": "EU-CENTRAL",
        "restocked": [{"sku": "MB-SPIKY-8CM", "quantity": 1}],
        "written_off": [{"sku": "MB-SPIKY-8CM", "quantity": 1}],
    },
    # warehouse.events
    "ParcelDispatched": {
        "shipment_id": SHIPMENT_ID,
        "warehouse_id": "EU-CENTRAL",
        "carrier": "DHL",
        "tracking_number": "JD014600003828383",
        "dispatched_at": "2025-02-01T09:00:00Z",
    },
    "ParcelDelivered": {"shipment_id": SHIPMENT_ID, "delivered_at": "2025-02-03T15:00:00Z"},
    "ReturnParcelReceived": {
        "rma_id": RMA_ID,
        "warehouse_id": "EU-CENTRAL",
        "lines": [
            {"sku": "MB-SPIKY-8CM", "quantity": 1, "condition": "resellable"},
            {"sku": "MB-SPIKY-8CM", "quantity": 1, "condition": "damaged"},
        ],
        "received_at": "2025-02-20T11:00:00Z",
    },
    "StockCounted": {
        "warehouse_id": "EU-CENTRAL",
        "sku": "MB-SPIKY-8CM",
        "on_hand": 140,
        "counted_at": "2025-02-01T06:00:00Z",
    },
    # storefront.returns
    "ReturnRequested": {
        "order_id": ORDER_ID,
        "return_request_id": "ret-1",
        "lines": [{"sku": "MB-SPIKY-8CM", "quantity": 2}],
        "reason": "Too hard for my feet",
    },
    "WarrantyClaimFiled": {
        "order_id": ORDER_ID,
        "claim_id": "claim-9",
        "sku": "NS-ADJ-M",
        "country_of_usage": "DE",
        "defect_description": "The strap buckle broke",
    },
    # returns
    "ReturnAuthorized": {
        "order_id": ORDER_ID,
        "rma_id": RMA_ID,
        "return_request_id": "ret-1",
        "lines": [{"sku": "MB-SPIKY-8CM", "quantity": 2}],
        "return_by": "2025-03-05",
    },
    "ReturnRejected": {
        "order_id": ORDER_ID,
        "return_request_id": "ret-2",
        "reason_code": "window_expired",
        "message": "The 30-day return window closed on 2025-03-05.",
    },
    "RefundRequested": {
        "order_id": ORDER_ID,
        "refund_id": REFUND_ID,
        "rma_id": RMA_ID,
        "amount": _eur("18.50"),
        "lines": [{"sku": "MB-SPIKY-8CM", "quantity": 2, "amount": _eur("18.50")}],
        "shipping_refund": _eur("0.00"),
    },
    "ReturnRefundStopped": {
        "order_id": ORDER_ID,
        "rma_id": RMA_ID,
        "reason_code": "unpriced_sku",
        "message": "NS-ADJ-M is not in the order as placed",
    },
    "WarrantyClaimAccepted": {
        "order_id": ORDER_ID,
        "claim_id": "claim-9",
        "sku": "NS-ADJ-M",
        "country_of_usage": "DE",
        "warranty_ends_on": "2027-02-03",
    },
    "WarrantyClaimRejected": {
        "order_id": ORDER_ID,
        "claim_id": "claim-10",
        "reason_code": "warranty_expired",
        "message": "The warranty in DE ended on 2027-02-03.",
    },
}


def example_data(event_type: str) -> dict[str, Any]:
    """A fresh (deep-copied) valid `data` document for `event_type`."""
    return copy.deepcopy(_EXAMPLES[event_type])


def example_event(event_type: str) -> Event:
    """The example of `event_type` as a validated event."""
    return EVENT_TYPES[event_type].model_validate(example_data(event_type))


def example_types() -> list[str]:
    """Every event type that has an example (all of them; a test holds it to that)."""
    return sorted(_EXAMPLES)
