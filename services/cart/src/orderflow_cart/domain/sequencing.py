"""Applying each cart's events in the storefront's order, whatever order they arrive in.

The storefront numbers the events of each cart 1, 2, 3... (the envelope's ``sequence``). The
cart service applies event n only after n-1:

* the next expected number is applied at once, then every buffered event that follows it
  without a gap;
* a later number waits in a buffer until the gap before it fills;
* a number already applied (or skipped) is stale and is not applied again; a second event
  with a number already waiting in the buffer is a duplicate and is not applied either. (The
  inbox has already dropped exact re-deliveries of one event id; these are re-publications of
  the same step under a new id.)
* a gap that never fills is skipped once the first event after it has waited ``gap_timeout``:
  the missing numbers are recorded for ops and the buffered events are applied in order.
  One lost message must not hold a cart (and its checkout) forever.
* an event without a sequence number (a producer that does not number) is applied on arrival.

The result is the cart the storefront meant: the same events in sequence order, each once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Admission(StrEnum):
    APPLY = "apply"
    BUFFER = "buffer"
    STALE = "stale_sequence"
    DUPLICATE = "duplicate_sequence"


def admit(last_applied: int, buffered: Collection[int], sequence: int | None) -> Admission:
    """What to do with an arriving event numbered ``sequence``."""
    if sequence is None or sequence == last_applied + 1:
        return Admission.APPLY
    if sequence <= last_applied:
        return Admission.STALE
    if sequence in buffered:
        return Admission.DUPLICATE
    return Admission.BUFFER


def ready_after(last_applied: int, buffered: Collection[int]) -> list[int]:
    """The buffered numbers that now follow ``last_applied`` without a gap, in order."""
    ready = []
    expected = last_applied + 1
    while expected in buffered:
        ready.append(expected)
        expected += 1
    return ready


@dataclass(frozen=True)
class Waiting:
    """A buffered event: its number and when it arrived."""

    sequence: int
    received_at: datetime


@dataclass(frozen=True)
class GapRelease:
    skipped: list[tuple[int, int]]
    """Ranges (first, last) of numbers given up on."""
    to_apply: list[int]
    """Buffered numbers to apply now, in order."""


def release_overdue(
    last_applied: int, buffered: Sequence[Waiting], now: datetime, gap_timeout: timedelta
) -> GapRelease:
    """Skip gaps that have been open for ``gap_timeout`` and say what to apply.

    A gap has been open since the earliest arrival among the events waiting behind it. When
    that is ``gap_timeout`` ago or more, the gap is skipped, the run after it is applied, and
    the next gap (if any) is judged the same way.
    """
    waiting = sorted(buffered, key=lambda item: item.sequence)
    skipped: list[tuple[int, int]] = []
    to_apply: list[int] = []
    position = last_applied
    index = 0
    while index < len(waiting):
        behind_gap = waiting[index:]
        if min(item.received_at for item in behind_gap) > now - gap_timeout:
            break
        first = behind_gap[0].sequence
        if first > position + 1:
            skipped.append((position + 1, first - 1))
        position = first - 1
        while index < len(waiting) and waiting[index].sequence == position + 1:
            position += 1
            to_apply.append(position)
            index += 1
    return GapRelease(skipped, to_apply)
