"""Envelopes the read model stored before it left out unknown fields a page cannot read."""

from __future__ import annotations

import json

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded
from orderflow_ops.event_log import stored_envelope


def _stored(**unknown: str) -> str:
    envelope = Envelope.wrap(
        CartItemAdded(cart_id="c-1", sku="MB-PEANUT", quantity=1),
        producer="storefront",
        correlation_id="journey-1",
    )
    written = json.loads(envelope.model_dump_json())
    written["data"].update(unknown)
    return json.dumps(written)


def test_one_with_a_lone_surrogate_reads_as_its_event() -> None:
    read = stored_envelope(_stored(gift_note="\ud800"))

    assert read is not None
    assert "gift_note" not in read.data
    assert read.data["sku"] == "MB-PEANUT"


def test_one_that_cannot_be_read_is_left_out() -> None:
    assert stored_envelope('{"not": "an envelope"}') is None
    assert stored_envelope("not json") is None
