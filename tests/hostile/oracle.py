"""What a consumer must do with a record, decided from its bytes and the contracts package.

The rules of the project, as the fuzzer holds every consumer to them:

* card data anywhere (value, key, header names or values), or a JSON key or header name
  naming card data (``cvv``, ``card_number``...) -> dead letter ``card_data_refused``, for
  every consumer that reads the record, whatever type it claims to be;
* a record whose ``event_type`` header names a type this consumer has no handler for ->
  skipped unread (nothing of it is decoded or stored), on a topic only Orderflow's outboxes
  write and when it has one such header (elsewhere the body says);
* not an envelope (not UTF-8, not JSON, too deep, wrong envelope fields) -> dead letter
  with a reason code, for every consumer;
* a valid envelope of an event type the contract does not know, or of a newer
  ``schema_version``, or of a type this consumer has no handler for -> skipped (counted,
  never dead-lettered);
* a handled type whose data breaks the contract -> dead letter with a reason code;
* a contract-valid event -> the handler decides (applied, or a domain dead letter).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from enum import StrEnum

from orderflow_chassis.card_data_names import names_card_data
from orderflow_contracts.card_data import find_card_numbers
from orderflow_contracts.envelope import SCHEMA_VERSION, Envelope
from orderflow_contracts.registry import EVENT_TYPES
from orderflow_contracts.topics import EXTERNAL_TOPICS

from tests.hostile.strategies import HostileRecord

CARD_DATA_REFUSED = "card_data_refused"


class Outcome(StrEnum):
    CARD_REFUSED = "dead-lettered as card_data_refused"
    DEAD_LETTERED = "dead-lettered with a reason code"
    SKIPPED = "skipped, not dead-lettered"
    HANDLED = "applied or dead-lettered by its handler"


def card_numbers_in(record: HostileRecord) -> set[str]:
    """The card numbers a record carries: those injected, and any that came about by chance
    (a random key of 13 ASCII zeros passes Luhn too)."""
    texts = [name for name, _ in record.headers]
    texts += [(value or b"").decode("utf-8", "replace") for _, value in record.headers]
    for raw in (record.key, record.value):
        if raw:
            texts.append(raw.decode("utf-8", "replace"))
    if record.value and b"\\u" in record.value:
        texts.extend(_decoded_strings(record.value))
    found = {n.replace(" ", "").replace("-", "") for t in texts for n in find_card_numbers(t)}
    return found | set(record.pans)


def names_card_data_in(record: HostileRecord) -> bool:
    """Whether a header name or a JSON key of the value names card data (random text can)."""
    keys = [name for name, _ in record.headers]

    def collect(pairs: list[tuple[str, object]]) -> None:
        keys.extend(key for key, _ in pairs)

    with contextlib.suppress(ValueError, RecursionError):  # not JSON: no keys
        json.loads(record.value or b"", object_pairs_hook=collect)
    return any(names_card_data(key) for key in keys)


def _decoded_strings(raw: bytes) -> Iterable[str]:
    try:
        return [json.dumps(json.loads(raw), ensure_ascii=False)]
    except (ValueError, RecursionError):
        return []


def expected_outcome(record: HostileRecord, handled_types: frozenset[str]) -> Outcome:
    """What a consumer with handlers for ``handled_types`` must do with ``record``."""
    if card_numbers_in(record) or names_card_data_in(record):
        return Outcome.CARD_REFUSED  # screened whatever type it claims to be
    announced = announced_type(record)
    if announced in EVENT_TYPES and announced not in handled_types:
        return Outcome.SKIPPED  # a contract type left to others: never decoded
    try:
        envelope = Envelope.from_bytes(record.value or b"")
    except Exception:
        # Unreadable under a type the contract does not know: a newer producer's (skipped).
        unknown_type = announced is not None and announced not in EVENT_TYPES
        return Outcome.SKIPPED if unknown_type else Outcome.DEAD_LETTERED
    known = EVENT_TYPES.get(envelope.event_type)
    if known is None or envelope.schema_version > SCHEMA_VERSION:
        return Outcome.SKIPPED
    if envelope.event_type not in handled_types:
        return Outcome.SKIPPED
    try:
        envelope.parse_event()
    except Exception:
        return Outcome.DEAD_LETTERED
    return Outcome.HANDLED


def announced_type(record: HostileRecord) -> str | None:
    """The ``event_type`` header, as the chassis reads it (the only one, UTF-8, on a topic
    only Orderflow writes), if any."""
    if record.topic in EXTERNAL_TOPICS:
        return None
    found = [value for name, value in record.headers if name == "event_type"]
    if len(found) != 1 or found[0] is None:
        return None
    try:
        return found[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
