"""structlog configuration: one JSON object per line, with the event context bound.

The consumer binds ``event_id``, ``correlation_id``, ``event_type`` and ``aggregate_id`` while a
handler runs (structlog's contextvars), so every line a handler logs can be traced to the
message behind it without passing loggers around.

Every event, from structlog or the standard library (FastStream, aiokafka), passes
:func:`redact_card_data` last before rendering: card numbers are replaced in every string
value, number and key, nested values included, so no log line ever carries one.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, TextIO

import structlog
from orderflow_contracts.card_data import REDACTED, contains_card_number, redact_card_numbers
from orderflow_contracts.envelope import Envelope

from orderflow_chassis.card_data_lists import listed_groups

MAX_REDACTED_NODES: Final = 10_000
MAX_LOGGED_DEPTH: Final = 32
"""Values one log event may hold, and how deep it may nest, before the rest is replaced by a
placeholder: bounds the cost of a line, and keeps the renderer's recursion shallow."""

_PLAIN = (bool, type(None))
_FORMATTER_META = frozenset({"_record", "_from_structlog"})  # ProcessorFormatter's own keys


def redact_card_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: card numbers out of every string value, number and key, at any
    depth, and out of lists that hold one group by group. Ints of 13 digits or more, floats
    whose text holds a card number and keys that are not strings are logged as their redacted
    text.

    Iterative; beyond :data:`MAX_REDACTED_NODES` values or :data:`MAX_LOGGED_DEPTH` levels the
    rest is replaced by a placeholder. Objects that are not plain data are kept unless their
    ``str()`` holds a card number, in which case the redacted text replaces them.
    """
    budget = MAX_REDACTED_NODES
    meta = {key: event_dict[key] for key in _FORMATTER_META if key in event_dict}
    loggable = {key: value for key, value in event_dict.items() if key not in meta}
    root: dict[str, Any] = {}
    pending: list[tuple[Any, Any, Any, int]] = [(loggable, root, "event_dict", 0)]
    while pending:
        item, parent, slot, depth = pending.pop()
        budget -= 1
        if budget < 0 or depth > MAX_LOGGED_DEPTH:
            parent[slot] = "[NOT LOGGED: too many values or too deep]"
            continue
        if isinstance(item, str):
            parent[slot] = redact_card_numbers(item)
        elif isinstance(item, _PLAIN):
            parent[slot] = item
        elif isinstance(item, int):
            parent[slot] = redact_card_numbers(str(item)) if abs(item) >= 10**12 else item
        elif isinstance(item, float):
            # Rendered as its repr, which can spell a card number: 4111111111111111.0, and
            # 0.4111111111111111 too. Kept as a number unless it does.
            text = repr(item)
            parent[slot] = redact_card_numbers(text) if contains_card_number(text) else item
        elif isinstance(item, dict):
            copy: dict[Any, Any] = {}
            parent[slot] = copy
            for key, child in item.items():
                # An int key renders as its digits: every key is screened as text.
                new_key = redact_card_numbers(key if isinstance(key, str) else str(key))
                pending.append((child, copy, new_key, depth + 1))
        elif isinstance(item, list | tuple):
            items: list[Any] = [None] * len(item)
            parent[slot] = items
            # ["4111", "1111", "1111", "1111"], [4, 1, 1, 1, ...], ((4111,), (1111,), ...): a
            # sequence in a sequence was read with the outer one's pieces.
            groups = listed_groups(item, (list, tuple), nested=isinstance(parent, list))
            for i, child in enumerate(item):
                if i in groups:
                    items[i] = REDACTED
                else:
                    pending.append((child, items, i, depth + 1))
        elif isinstance(item, bytes):
            parent[slot] = redact_card_numbers(item.decode("utf-8", "replace"))
        else:
            text = str(item)
            parent[slot] = redact_card_numbers(text) if contains_card_number(text) else item
    redacted: dict[str, Any] = root["event_dict"]
    event_dict.clear()
    event_dict.update(redacted)
    event_dict.update(meta)
    return event_dict


def configure_logging(
    service_name: str,
    *,
    level: str = "INFO",
    fmt: str = "json",
    stream: TextIO | None = None,
    cache_loggers: bool = True,
) -> None:
    """Route structlog and the standard library (FastStream, aiokafka) through one renderer,
    to ``stream`` (default: standard error). ``cache_loggers=False`` for a configuration that
    will be undone (a test): cached loggers would keep it for the rest of the process."""
    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_card_data,  # last: exceptions are text by now, and get redacted too
    ]
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        # A line below the level is dropped first, not after every processor ran on it (a
        # filtered debug line cost 17 µs, 2 µs now).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka narrates every rebalance step at INFO; httpx and httpcore log every request at
    # INFO with its full URL, which may name a payment token (a PayPal order id): warnings and
    # up only.
    for chatty in ("aiokafka", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service_name)


def bind_event_context(envelope: Envelope) -> Mapping[str, contextvars.Token[Any]]:
    """Bind the event's ids to every line logged until the tokens are reset
    (``structlog.contextvars.reset_contextvars(**tokens)``). Tokens rather than
    ``bound_contextvars()``, which reads the whole logging context and binds twice: a fifth of
    a consumer's per-record overhead."""
    return structlog.contextvars.bind_contextvars(
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        correlation_id=envelope.correlation_id,
        aggregate_id=envelope.aggregate_id,
    )
