"""The AsyncAPI document (built by the chassis with FastStream) covers the whole contract.

Skipped when the chassis is not installed: the contracts package itself never needs FastStream.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orderflow_contracts import ALL_TOPICS, EVENT_TYPES

asyncapi = pytest.importorskip("orderflow_chassis.asyncapi")

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_every_topic_is_a_channel_and_every_event_a_payload() -> None:
    document = json.loads(asyncapi.render_json())
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(ALL_TOPICS)
    for topic in ALL_TOPICS:
        assert document["operations"][topic]["action"] == "send"
        assert f"`{topic}.dlq`" in document["channels"][topic]["description"]
    schemas = document["components"]["schemas"]
    for event_type in EVENT_TYPES:
        assert f"{event_type}Envelope" in schemas
        assert schemas[f"{event_type}Envelope"]["properties"]["event_type"]["const"] == event_type


def test_the_committed_document_is_up_to_date() -> None:
    assert DOCUMENT.is_file(), "run `uv run python -m orderflow_chassis.asyncapi`"
    assert DOCUMENT.read_text("utf-8") == asyncapi.render_json(), (
        "docs/asyncapi.json is stale: run `uv run python -m orderflow_chassis.asyncapi`"
    )
