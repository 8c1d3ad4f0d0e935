"""Card data never enters payment: every field of every record but the opaque ids is scanned
before decoding (see ``orderflow_chassis.card_data_guard``)."""

from __future__ import annotations

from orderflow_chassis.card_data_guard import CARD_DATA_REFUSED, screen_payload

__all__ = ["CARD_DATA_REFUSED", "refuse_card_data"]

refuse_card_data = screen_payload
