"""A factory of logged events built from the contract's examples, for the ops tools' tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import example_event
from orderflow_ops.event_log import LoggedEvent

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

MakeLogged = Callable[..., tuple[LoggedEvent, Envelope]]


@pytest.fixture
def make_logged() -> MakeLogged:
    offsets = count()

    def make(
        event_type: str, minutes: float, *, caused_by: Envelope | None = None, **changes: Any
    ) -> tuple[LoggedEvent, Envelope]:
        event = example_event(event_type)
        if changes:
            event = type(event).model_validate({**event.model_dump(mode="json"), **changes})
        envelope = Envelope.wrap(
            event,
            producer="test",
            correlation_id="journey-1",
            causation_id=str(caused_by.event_id) if caused_by else None,
            occurred_at=START + timedelta(minutes=minutes),
        )
        record = LoggedEvent(
            topic=type(event).topic,
            partition=0,
            offset=next(offsets),
            timestamp_ms=0,
            envelope=envelope,
        )
        return record, envelope

    return make
