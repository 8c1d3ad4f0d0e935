"""Time-ordered ids (UUID version 7): what RFC 9562 says of them, and the order they sort in."""

from __future__ import annotations

import itertools
import time
import uuid

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded
from orderflow_contracts.uuids import uuid7


def test_a_uuid7_is_version_7_of_the_rfc_variant_and_carries_the_time() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after  # its first 48 bits: Unix time in milliseconds
    assert uuid.UUID(str(made)) == made


def test_uuid7s_are_unique_and_sort_by_the_millisecond_they_were_made() -> None:
    made = []
    for _ in range(5):
        made.append([uuid7() for _ in range(2_000)])
        time.sleep(0.002)
    assert len({u for batch in made for u in batch}) == 10_000
    for earlier, later in itertools.pairwise(made):
        assert max(earlier) < min(later)


def test_envelopes_get_time_ordered_event_ids() -> None:
    event = CartItemAdded(cart_id="cart-ids", sku="SKU-1", quantity=1)
    first = Envelope.wrap(event, producer="cart", correlation_id="ids")
    time.sleep(0.002)
    second = Envelope.wrap(event, producer="cart", correlation_id="ids")
    assert (first.event_id.version, second.event_id.version) == (7, 7)
    assert first.event_id < second.event_id
