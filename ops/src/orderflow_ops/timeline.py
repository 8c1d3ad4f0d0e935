"""An order's timeline: every event of one order across all topics, in order, with causes.

What an ops engineer opens first when a customer calls. An event belongs to the order when it
names the order or anything the order led to: the cart it came from, its shipments, RMAs,
claims, payments and refunds. Those ids are discovered from the events themselves, until no
new one appears, so a warehouse event keyed by a shipment id is found through the
``FulfillmentRequested`` that named that shipment.

Any record may be on a topic (see :mod:`orderflow_ops.event_log`): ids are taken only from
string fields, nesting is walked without recursion, and what a summary shows of a value is
bounded, so no record can stop a timeline from being drawn. Records are read as they are on
the topics, including ones the services refused for holding card data, so every text an entry
shows has card numbers redacted (free-text rule), before anything is cut short.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final, TypeGuard

from orderflow_chassis.card_data_json import spells_card_number
from orderflow_chassis.card_data_lists import lists_card_number
from orderflow_contracts.card_data import REDACTED, redact_card_numbers
from orderflow_contracts.primitives import IDENTIFIER_PATTERN

from orderflow_ops.event_log import LoggedEvent

# Fields whose values are ids of things that belong to one order. Not warehouse, SKU or
# customer ids: those are shared by many orders.
LINK_FIELDS = frozenset(
    {
        "order_id",
        "cart_id",
        "shipment_id",
        "rma_id",
        "claim_id",
        "return_request_id",
        "payment_id",
        "refund_id",
    }
)

# The storefront's ids, unique within one order only ("ret-1" in many orders): linked with
# their order's id, else one order's timeline took in every order that used the same id.
PER_ORDER_FIELDS = frozenset({"claim_id", "return_request_id"})

# Data fields worth a glance in the one-line summary, in this order.
SUMMARY_FIELDS = (
    "total",
    "amount",
    "currency",
    "reason_code",
    "reason",
    "code",
    "warehouse_id",
    "carrier",
    "tracking_number",
    "return_by",
    "condition",
)


@dataclass(frozen=True)
class TimelineEntry:
    index: int
    occurred_at: datetime | None
    event_type: str
    producer: str | None
    topic: str
    partition: int
    offset: int
    event_id: str | None
    causation_id: str | None
    caused_by: int | None  # index of the causing entry, when it is in this timeline
    correlation_id: str | None
    aggregate_id: str | None
    summary: str
    dead_letter: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        entry = asdict(self)
        entry["occurred_at"] = self.occurred_at.isoformat() if self.occurred_at else None
        return entry


def related_ids(order_id: str, log: Sequence[LoggedEvent]) -> set[str]:
    """The order id and every id linked to it through the events (a fixpoint)."""
    related = {order_id}
    linked = [(_ids_in(event), event) for event in log]
    grew = True
    while grew:
        grew = False
        for ids, _ in linked:
            if ids & related and not ids <= related:
                related |= ids
                grew = True
    return related


def build_timeline(order_id: str, log: Sequence[LoggedEvent]) -> list[TimelineEntry]:
    related = related_ids(order_id, log)
    events = [event for event in log if _ids_in(event) & related]
    events.sort(key=_chronological)
    index_of_event: dict[str, int] = {}
    entries: list[TimelineEntry] = []
    for index, event in enumerate(events, start=1):
        envelope = event.envelope
        raw = event.raw or {}
        event_id = str(envelope.event_id) if envelope else _str_or_none(raw.get("event_id"))
        causation_id = envelope.causation_id if envelope else _str_or_none(raw.get("causation_id"))
        event_type = envelope.event_type if envelope else _str_or_none(raw.get("event_type")) or "?"
        if event.dead_letter:
            event_type = f"DeadLetter({event_type})"
        # Ids are linked as read; only what the entry shows is redacted.
        entries.append(
            TimelineEntry(
                index=index,
                occurred_at=event.occurred_at,
                event_type=redact_card_numbers(event_type),
                producer=_redacted(
                    envelope.producer if envelope else _str_or_none(raw.get("producer"))
                ),
                topic=event.topic,
                partition=event.partition,
                offset=event.offset,
                event_id=_redacted(event_id),
                causation_id=_redacted(causation_id),
                caused_by=index_of_event.get(causation_id) if causation_id else None,
                correlation_id=_redacted(envelope.correlation_id if envelope else None),
                aggregate_id=_redacted(envelope.aggregate_id if envelope else None),
                summary=summarize(event.data, event.dead_letter),
                dead_letter={
                    redact_card_numbers(name): redact_card_numbers(value)
                    for name, value in event.dead_letter.items()
                },
            )
        )
        if event_id is not None and not event.dead_letter:
            index_of_event[event_id] = index
    return entries


def render_text(order_id: str, entries: Sequence[TimelineEntry]) -> str:
    order_id = redact_card_numbers(order_id)  # as typed: it is printed all the same
    if not entries:
        return f"order {order_id}: no events found"
    lines = [f"order {order_id}: {len(entries)} event(s)"]
    for entry in entries:
        when = entry.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if entry.occurred_at else "?"
        cause = f" <- #{entry.caused_by}" if entry.caused_by else ""
        lines.append(
            f"#{entry.index:<3} {when}  {entry.event_type:<24} {entry.producer or '?':<12} "
            f"{entry.topic}[{entry.partition}]@{entry.offset}{cause}"
        )
        if entry.summary:
            lines.append(f"     {entry.summary}")
    return "\n".join(lines)


def summarize(data: Mapping[str, Any], dead_letter: Mapping[str, str] | None = None) -> str:
    parts = []
    for name in SUMMARY_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        parts.append(f"{name}={_display(value)}")
    if dead_letter:
        code, reason = dead_letter.get("error_code"), dead_letter.get("reason")
        parts.append(f"dead-lettered: {_redacted(code)}: {_redacted(reason)}")
    return "  ".join(parts)


class _RedactingRepr(reprlib.Repr):
    """A bounded repr with card numbers redacted in every string before it is cut short (a
    cut could keep most of a card number), and in every piece it shows, numbers and keys
    included (``4111111111111111.0`` is a card number too), and lists that hold one group by
    group."""

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, list | tuple) and lists_card_number(x, (list, tuple)):
            return REDACTED  # ["4111", "1111", "1111", "1111"]: each group alone is no card
        if isinstance(x, dict | list | tuple) and spells_card_number(x):
            return REDACTED  # {"n1": "4111", "n2": "1111", ...}: typed into boxes, a value each
        return redact_card_numbers(super().repr1(x, level))

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(redact_card_numbers(x), level)


_BOUNDED = _RedactingRepr()  # Python 3.11's Repr takes no keyword arguments
_BOUNDED.maxlevel, _BOUNDED.maxstring, _BOUNDED.maxother = 3, 80, 80
LONGEST_SHOWN = 200


def _display(value: Any) -> str:
    if isinstance(value, Mapping) and {"amount", "currency"} <= value.keys():
        return f"{_display(value['amount'])} {_display(value['currency'])}"
    if isinstance(value, str):
        text = redact_card_numbers(value)  # before the cut, which could keep part of one
        return text if len(text) <= LONGEST_SHOWN else text[: LONGEST_SHOWN - 3] + "..."
    if isinstance(value, int | float):
        return redact_card_numbers(str(value))
    return _BOUNDED.repr(value)  # a structure of unknown depth: bounded


def _ids_in(event: LoggedEvent) -> set[str]:
    ids = set(collect_link_ids(event.data))
    if event.envelope is not None and ids:
        ids.add(event.envelope.aggregate_id)
    return ids


_SCALARS: Final = (str, int, float, bool, type(None))
# An id as the contract writes one (UUIDs fit): a link field nested in an unknown part of a
# record is not validated, and a NUL or a 3 KB "id" cannot be stored as a link.
_AN_ID: Final = re.compile(IDENTIFIER_PATTERN)


def collect_link_ids(value: Any) -> Iterable[str]:
    """The string values of link fields (:data:`LINK_FIELDS`) in ``value``, at any depth.
    Only mappings and lists are stacked, told apart from JSON's scalars by their exact type
    first: the console runs this on every event, and stacking every scalar to test it against
    ``Mapping`` (an abstract class, slow to test) when popped was most of its cost."""
    # A stack, not recursion: a record may nest deeper than Python recurses.
    pending = [value] if isinstance(value, Mapping | list) else []
    while pending:
        current = pending.pop()
        items = current.items() if isinstance(current, Mapping) else enumerate(current)
        for key, item in items:
            if key in LINK_FIELDS and isinstance(item, str):
                if not _AN_ID.fullmatch(item):  # an unknown nested field's may be anything
                    continue
                if key not in PER_ORDER_FIELDS:
                    yield item
                elif isinstance(current, Mapping) and _an_id(order := current.get("order_id")):
                    # Lower case: the contract reads a UUID in either, and writes lower.
                    yield f"{order.lower()}:{item}"
            elif type(item) in _SCALARS:
                continue
            elif isinstance(item, Mapping | list):
                pending.append(item)


def _an_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _AN_ID.fullmatch(value) is not None


def _chronological(event: LoggedEvent) -> tuple[float, int, str, int, int]:
    occurred = event.occurred_at.timestamp() if event.occurred_at else event.timestamp_ms / 1000
    return (occurred, event.timestamp_ms, event.topic, event.partition, event.offset)


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact_card_numbers(text)


def _str_or_none(value: Any) -> str | None:
    """A scalar as text; None for anything else (a field of the wrong type in a bad record)."""
    return str(value) if isinstance(value, str | int | float) else None
