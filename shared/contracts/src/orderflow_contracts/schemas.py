"""JSON Schemas of the contract: one document per event, the envelope with that event's data."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any, Final, Literal

from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events.base import Event
from orderflow_contracts.primitives import ContractModel
from orderflow_contracts.registry import ALL_EVENTS

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


@cache
def envelope_model(event_class: type[Event]) -> type[ContractModel]:
    """A model of the envelope whose `event_type` is `event_class`'s and whose `data` is an
    `event_class`: what one message of that event looks like, for schemas and documentation."""
    fields: dict[str, Any] = {}
    for name, field in Envelope.model_fields.items():
        if name == "event_type":
            fields[name] = (
                Literal[event_class.event_type],
                Field(description=field.description),
            )
        elif name == "schema_version":
            fields[name] = (
                Literal[event_class.schema_version],
                Field(description=field.description),
            )
        elif name == "data":
            fields[name] = (event_class, Field(description=field.description))
        else:
            fields[name] = (field.annotation, FieldInfo.merge_field_infos(field))
    description = (
        f"{inspect.cleandoc(event_class.__doc__ or '')}\n\n"
        f"Topic: {event_class.topic}; Kafka key: {event_class.key_field}."
    )
    model: type[ContractModel] = create_model(
        f"{event_class.event_type}Envelope",
        __base__=ContractModel,
        __doc__=description,
        **fields,
    )
    return model


def event_json_schema(event_class: type[Event]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one message carrying `event_class`."""
    schema = envelope_model(event_class).model_json_schema(mode="validation")
    schema["title"] = event_class.event_type
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **schema,
        "x-orderflow-topic": event_class.topic,
        "x-orderflow-key": event_class.key_field,
        "x-orderflow-schema-version": event_class.schema_version,
    }


def all_event_schemas() -> dict[str, dict[str, Any]]:
    """Every event's schema by event type."""
    return {cls.event_type: event_json_schema(cls) for cls in ALL_EVENTS}
