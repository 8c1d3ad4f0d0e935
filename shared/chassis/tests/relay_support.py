"""What the relay's unit tests share: outbox rows and a clock they move by hand."""

from __future__ import annotations

from orderflow_chassis.outbox_store import OutboxRow


def row(row_id: int, key: str, topic: str = "orders") -> OutboxRow:
    """An outbox row of ``topic`` for the aggregate ``key``."""
    return OutboxRow(row_id, topic, key, b"{}", [], 0)


class Clock:
    """A monotonic clock that moves only when a test sets ``now``."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now
