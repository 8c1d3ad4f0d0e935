"""The invariant monitor: the rules of ``orderflow-ops check``, evaluated continuously over
the read model instead of over a full read of the topics.

Rules that hold whatever the time are decided per order when its events are folded (see
:mod:`orderflow_ops.console.projection`) and only counted here; the time-dependent ones
(stuck past a deadline, a checkout unanswered, a cart checked out without its order) and the
ones across orders (a cart with several orders, a refund issued twice) are queried here.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from orderflow_ops.console.live import Violations
from orderflow_ops.console.settings import sla_by_state
from orderflow_ops.invariants import Deadlines

EXAMPLES = 5


async def evaluate(
    pool: asyncpg.Pool, schema: str, deadlines: Deadlines, now: datetime
) -> Violations:
    s = schema
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}

    def found(code: str, subjects: list[str], total: int | None = None) -> None:
        counts[code] = counts.get(code, 0) + (len(subjects) if total is None else total)
        examples.setdefault(code, []).extend(subjects[: EXAMPLES - len(examples.get(code, []))])

    for row in await pool.fetch(
        f"""
        SELECT code, count(*) AS n, (array_agg(order_id ORDER BY order_id))[1:{EXAMPLES}] AS ids
        FROM {s}.orders, unnest(violations) AS code
        WHERE violations <> '{{}}' AND placed_at IS NOT NULL GROUP BY code
        """
    ):
        found(row["code"], list(row["ids"]), row["n"])

    limits = sla_by_state(deadlines)
    stuck_by_stage: dict[str, int] = {}
    for row in await pool.fetch(
        f"""
        SELECT o.state, count(*) AS n,
               (array_agg(o.order_id ORDER BY o.last_event_at))[1:{EXAMPLES}] AS ids
        FROM unnest($1::text[], $2::float8[]) AS sla(state, seconds)
        JOIN {s}.orders o ON o.state = sla.state
        WHERE o.placed_at IS NOT NULL
          AND o.last_event_at < $3::timestamptz - make_interval(secs => sla.seconds)
        GROUP BY o.state ORDER BY o.state
        """,
        list(limits),
        [limit.total_seconds() for limit in limits.values()],
        now,
    ):
        stuck_by_stage[row["state"]] = row["n"]
        code = "charged_not_shipped" if row["state"] == "awaiting_shipment" else "stuck"
        found(code, list(row["ids"]), row["n"])

    # Each rule's whole count (count(*) OVER () before the LIMIT) and its first examples:
    # the rows themselves were counted, so no rule ever showed more than 1,000.
    async def rule(code: str, query: str, *args: object) -> None:
        rows = await pool.fetch(query, *args)
        if rows:
            found(code, [str(row["subject"]) for row in rows], rows[0]["n"])

    await rule(
        "cart_with_several_orders",
        f"""
        SELECT cart_id AS subject, count(*) OVER () AS n FROM {s}.carts_with_several_orders
        LIMIT {EXAMPLES}
        """,
    )
    settle = now - deadlines.checkout_answer
    await rule(
        "checked_out_without_order",
        f"""
        SELECT cart_id AS subject, count(*) OVER () AS n FROM {s}.cart_orders
        WHERE order_placed_at IS NULL AND checked_out_at < $1 LIMIT {EXAMPLES}
        """,
        settle,
    )
    # A dead-lettered request counts as answered, as check has it. Its letter may have been
    # stored before the request (the dead-letter topics are small and caught up first after
    # a restart), when there was no row yet to mark answered.
    await rule(
        "checkout_unanswered",
        f"""
        SELECT c.cart_id AS subject, count(*) OVER () AS n FROM {s}.checkouts AS c
        WHERE c.answered_at IS NULL AND c.requested_at < $1
          AND NOT EXISTS (SELECT 1 FROM {s}.dead_letters AS d
                          WHERE d.event_id = c.event_id::text)
        ORDER BY c.requested_at LIMIT {EXAMPLES}
        """,
        settle,
    )
    await rule(
        "refunded_twice",
        f"""
        SELECT refund_id AS subject, count(*) OVER () AS n FROM {s}.refunds
        GROUP BY refund_id HAVING count(*) > 1 LIMIT {EXAMPLES}
        """,
    )
    return Violations(counts, examples, now, stuck_by_stage)
