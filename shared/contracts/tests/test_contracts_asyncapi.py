"""The AsyncAPI document (built by the chassis with FastStream) covers the whole contract.

Skipped when the chassis is not installed: the contracts package itself never needs FastStream.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orderflow_contracts import ALL_TOPICS, EVENT_TYPES
from orderflow_contracts.topics import EXTERNAL_TOPICS

asyncapi = pytest.importorskip("orderflow_chassis.asyncapi")

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_every_topic_is_a_channel_and_every_event_a_payload() -> None:
    document = json.loads(asyncapi.render_json())
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(ALL_TOPICS)
    for topic in ALL_TOPICS:
        assert topic in document["operations"]
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


def test_orderflow_receives_what_storefronts_and_warehouses_write_and_correlates_by_body() -> None:
    # Review (helper 114): every operation said "send", and the correlation id was placed in
    # a header, which no client is asked to set: a client generated from the document got its
    # own direction wrong on the topics it writes.
    document = json.loads(asyncapi.render_json())
    actions = {topic: op["action"] for topic, op in document["operations"].items()}
    assert {topic for topic, action in actions.items() if action == "receive"} == set(
        EXTERNAL_TOPICS
    )
    assert set(actions.values()) == {"send", "receive"}
    locations = {
        message["correlationId"]["location"]
        for message in document["components"]["messages"].values()
    }
    assert locations == {"$message.payload#/correlation_id"}
