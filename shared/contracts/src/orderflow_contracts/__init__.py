"""Orderflow's public event contract, v1: the envelope, every event, topic names, exact money.

Pure models and functions, no I/O. See README.md beside this package for the rules.
"""

from orderflow_contracts.card_brands import card_brand, luhn_valid
from orderflow_contracts.card_data import (
    ID_FIELDS,
    contains_card_number,
    find_card_numbers,
    redact_card_numbers,
    redact_card_numbers_in_bytes,
)
from orderflow_contracts.compatibility import Incompatibility, check_compatibility
from orderflow_contracts.envelope import SCHEMA_VERSION, Envelope
from orderflow_contracts.errors import (
    ContractError,
    InvalidEventData,
    MalformedEnvelope,
    UnknownEventType,
    UnsupportedSchemaVersion,
)
from orderflow_contracts.events import Event
from orderflow_contracts.money import Currency, CurrencyMismatch, Money, quantize
from orderflow_contracts.registry import ALL_EVENTS, EVENT_TYPES, EVENTS_BY_TOPIC, event_class
from orderflow_contracts.topics import ALL_TOPICS, dead_letter_topic

__all__ = [
    "ALL_EVENTS",
    "ALL_TOPICS",
    "EVENTS_BY_TOPIC",
    "EVENT_TYPES",
    "ID_FIELDS",
    "SCHEMA_VERSION",
    "ContractError",
    "Currency",
    "CurrencyMismatch",
    "Envelope",
    "Event",
    "Incompatibility",
    "InvalidEventData",
    "MalformedEnvelope",
    "Money",
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "card_brand",
    "check_compatibility",
    "contains_card_number",
    "dead_letter_topic",
    "event_class",
    "find_card_numbers",
    "luhn_valid",
    "quantize",
    "redact_card_numbers",
    "redact_card_numbers_in_bytes",
]
