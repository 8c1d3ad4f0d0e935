from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_event
from orderflow_ops.progress import ProgressCounts


def _bytes(event_type: str) -> bytes:
    return Envelope.wrap(example_event(event_type), producer="test", correlation_id="c").to_bytes()


def test_progress_counts_facts_once_and_dead_letters_apart() -> None:
    counts = ProgressCounts()
    placed = _bytes("OrderPlaced")
    counts.record("orders", placed)
    counts.record("orders", placed)  # re-published by a relay after a crash
    counts.record("payments", _bytes("PaymentDeclined"))
    counts.record("orders.dlq", b"{not json")
    counts.record("orders", b"garbage")

    rows = dict(counts.rows())

    assert rows["orders placed"] == 1
    assert rows["payments declined"] == 1
    assert rows["dead letters"] == 1
    assert rows["paid (captured)"] == 0
    assert counts.one_line() == "orders placed=1  payments declined=1  dead letters=1"
