"""Orders: search, filter by state, the ones stuck past their SLA; one order's journey."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from orderflow_ops.console.read_model_queries import order_key
from orderflow_ops.console.settings import sla_by_state
from orderflow_ops.console.web_common import Console, PageError, Viewer, console_router, render
from orderflow_ops.invariants import FINAL_STATES
from orderflow_ops.timeline import build_timeline

ORDER_STATES = (
    "awaiting_payment_and_stock",
    "awaiting_capture",
    "awaiting_shipment",
    "in_transit",
    "awaiting_compensation",
    *sorted(FINAL_STATES),
)
LISTED = 100
_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_links(template: str, traceparents: list[str]) -> list[tuple[str, str]]:
    """(trace id, URL) of each trace the order's events carry, when a template is set."""
    if not template:
        return []
    ids = sorted({m[1] for t in traceparents if (m := _TRACEPARENT.fullmatch(t.strip()))})
    return [(trace_id, template.replace("{trace_id}", trace_id)) for trace_id in ids]


def orders_router(console: Console) -> APIRouter:
    router = console_router(console)

    @router.get("/orders")
    async def orders(request: Request, session: Viewer) -> HTMLResponse:
        text = request.query_params.get("q", "").strip()
        state = request.query_params.get("state", "").strip()
        if text and not _ID.fullmatch(text):
            raise PageError(
                400,
                "Bad search",
                "Search by an order id or a cart id: letters, digits and . _ : - only, "
                "at most 200 characters.",
            )
        if state and state not in ORDER_STATES:
            raise PageError(
                400,
                "Bad filter",
                f"Unknown state {state[:50]!r}; use one of {', '.join(ORDER_STATES)}.",
            )
        queries = console.queries(request)
        limits = sla_by_state(console.console_settings.deadlines())
        return render(
            console,
            request,
            "orders.html",
            session,
            q=text,
            state=state,
            order_states=ORDER_STATES,
            found=await queries.search_orders(text or None, state or None, LISTED),
            stuck=await queries.stuck_orders(limits, datetime.now(UTC), LISTED),
            slas=limits,
        )

    @router.get("/orders/{order_id}")
    async def order(order_id: str, request: Request, session: Viewer) -> HTMLResponse:
        if not _ID.fullmatch(order_id):
            raise PageError(400, "Bad order id", "An order id is letters, digits and . _ : - only.")
        queries = console.queries(request)
        order_id = order_key(order_id)
        row = await queries.order(order_id)
        log, cut = await queries.order_log(order_id)
        if row is None and not log:
            raise PageError(
                404,
                "Order not found",
                f"No order {order_id} in the console's read model: check the id (the orders "
                "page searches by order id or cart id).",
            )
        return render(
            console,
            request,
            "order.html",
            session,
            order_id=order_id,
            order=row,
            timeline=build_timeline(order_id, log),
            timeline_cut=cut,  # a link many orders share, a flood: never a part shown as whole
            traces=trace_links(
                console.console_settings.trace_url_template, await queries.traceparents(order_id)
            ),
        )

    return router
