"""Card data never enters the cart: storefront records are scanned before they are decoded.

Customers type into the shipping address and payment fields of a checkout; a card number typed
there must not be stored, buffered or kept in a dead letter (see
``orderflow_chassis.card_data_guard``; id fields get the stricter identifier rule).
"""

from __future__ import annotations

from orderflow_chassis.card_data_guard import CARD_DATA_REFUSED, screen_payload

__all__ = ["CARD_DATA_REFUSED", "refuse_card_data"]

refuse_card_data = screen_payload
