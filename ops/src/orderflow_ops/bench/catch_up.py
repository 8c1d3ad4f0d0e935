"""When did the pipeline catch up after an outage: pure functions of the observer's stage
book, so they are tested without Kafka.

An order is *in flight* at time t when its ``CheckoutRequested`` is at or before t and its
``FulfillmentRequested`` (the stage right after payment) is not. Under a steady load a few
orders are always in flight; an outage piles them up. The **baseline** is the most orders in
flight at any moment of the warm-up before the outage (at least 1). The pipeline has **caught
up** at the first moment, from the restarted service's readiness on, when no more orders are
in flight than the baseline, while the load still comes (a count that falls only after the
last checkout shows the load ending, not a catch-up); the **catch-up time** runs from
readiness to that moment. Every time is a Kafka record timestamp in ms (the producing
client's clock, on this one machine).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from orderflow_ops.bench.observer import StageBook

CAUGHT_UP_STAGE = "fulfillment_requested"
MIN_BASELINE = 1  # with no order in flight during the warm-up, one in flight is still normal


@dataclass(frozen=True)
class Journey:
    """One order's checkout time and the time it reached the caught-up stage (None: not yet)."""

    checkout_ms: int
    reached_ms: int | None


@dataclass(frozen=True)
class CatchUp:
    baseline_in_flight: int
    backlog_at_ready: int  # orders in flight when the restarted service was ready
    caught_up_ms: int | None  # None: still more than the baseline in flight
    catch_up_s: float | None  # readiness to caught up
    backlog_drained_s: float | None  # readiness until every order checked out by then got through
    drain_orders_per_s: float | None  # orders through the stage per s while catching up


def journeys(book: StageBook, carts: Sequence[str], stage: str = CAUGHT_UP_STAGE) -> list[Journey]:
    """The journeys of the carts whose checkout the observer saw."""
    found = []
    for cart in carts:
        checkout = book.checkout_ms.get(cart)
        if checkout is not None:
            found.append(Journey(checkout, book.stages_of_cart(cart).get(stage)))
    return found


class InFlight:
    """Orders in flight at any instant, by two sorted lists and a bisection each."""

    def __init__(self, orders: Sequence[Journey]) -> None:
        self.checkouts = sorted(j.checkout_ms for j in orders)
        self.reached = sorted(j.reached_ms for j in orders if j.reached_ms is not None)

    def at(self, ms: int) -> int:
        return bisect_right(self.checkouts, ms) - bisect_right(self.reached, ms)

    def most_between(self, start_ms: int, end_ms: int) -> int:
        """The most in flight at any instant of [start, end]: it only rises at a checkout."""
        instants = [start_ms, *(c for c in self.checkouts if start_ms <= c <= end_ms)]
        return max(self.at(ms) for ms in instants)

    def first_at_most(self, limit: int, from_ms: int) -> int | None:
        """The first instant from ``from_ms`` on, while the load still came (up to the last
        checkout), with at most ``limit`` in flight: it only falls when an order reaches the
        stage. After the last checkout the count falls because nothing new comes in."""
        last_checkout = self.checkouts[-1] if self.checkouts else from_ms
        for ms in (from_ms, *(r for r in self.reached if from_ms <= r <= last_checkout)):
            if self.at(ms) <= limit:
                return ms
        return None


def catch_up(
    orders: Sequence[Journey], *, warmup_from_ms: int, outage_from_ms: int, ready_ms: int
) -> CatchUp:
    """The catch-up of the pipeline after an outage from ``outage_from_ms``, the restarted
    service ready at ``ready_ms``; the baseline is taken over [warmup_from, outage_from]."""
    in_flight = InFlight(orders)
    baseline = max(MIN_BASELINE, in_flight.most_between(warmup_from_ms, outage_from_ms))
    caught_up = in_flight.first_at_most(baseline, ready_ms)
    backlog = [j for j in orders if j.checkout_ms <= ready_ms]
    backlog_reached = [j.reached_ms for j in backlog]
    drained_ms = (
        max((ms for ms in backlog_reached if ms is not None), default=ready_ms)
        if None not in backlog_reached
        else None
    )
    # Catching up, the pipeline runs flat out: its pace then is its capacity under a backlog.
    # Not caught up: its pace up to the last order it got through.
    drain_end = caught_up if caught_up is not None else max(in_flight.reached, default=ready_ms)
    drain_rate = None
    if drain_end > ready_ms:
        through = sum(1 for ms in in_flight.reached if ready_ms < ms <= drain_end)
        drain_rate = through / ((drain_end - ready_ms) / 1000)
    return CatchUp(
        baseline_in_flight=baseline,
        backlog_at_ready=in_flight.at(ready_ms),
        caught_up_ms=caught_up,
        catch_up_s=None if caught_up is None else (caught_up - ready_ms) / 1000,
        backlog_drained_s=None if drained_ms is None else max(0, drained_ms - ready_ms) / 1000,
        drain_orders_per_s=drain_rate,
    )


def checked_out_after(book: StageBook, carts: Sequence[str], from_ms: int) -> list[str]:
    """The carts checked out at or after ``from_ms``: the latency after the catch-up."""
    return [c for c in carts if book.checkout_ms.get(c, -1) >= from_ms]
