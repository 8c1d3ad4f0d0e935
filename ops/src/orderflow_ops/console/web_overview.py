"""The overview: the pipeline at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from orderflow_ops.console.live import PartitionLag
from orderflow_ops.console.projection import STAGES
from orderflow_ops.console.web_common import Console, Viewer, console_router, render

RATE_MINUTES = 15
CHART_WIDTH, CHART_HEIGHT = 150, 30


def sparkline(values: Sequence[int], width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> str:
    """SVG polyline points for ``values`` (one per minute), scaled to the box."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{index * step:.1f},{height - value / top * (height - 2) - 1:.1f}"
        for index, value in enumerate(values)
    )


def lag_by_group(lag: Sequence[PartitionLag]) -> list[tuple[str, int, list[PartitionLag]]]:
    groups: dict[str, list[PartitionLag]] = {}
    for partition in lag:
        groups.setdefault(partition.group, []).append(partition)
    return [(group, sum(p.lag for p in rows), rows) for group, rows in sorted(groups.items())]


def overview_router(console: Console) -> APIRouter:
    router = console_router(console)

    @router.get("/")
    async def overview(request: Request, session: Viewer) -> HTMLResponse:
        queries = console.queries(request)
        totals = await queries.stage_totals()
        rates = await queries.stage_rates(datetime.now(UTC), RATE_MINUTES)
        stages = [
            {
                "name": stage,
                "count": totals.get(stage, 0),
                "last_minute": (rates.get(stage) or [0])[-1],
                "points": sparkline(rates.get(stage, [0] * RATE_MINUTES)),
            }
            for stage in STAGES
        ]
        return render(
            console,
            request,
            "overview.html",
            session,
            stages=stages,
            rate_minutes=RATE_MINUTES,
            chart_width=CHART_WIDTH,
            chart_height=CHART_HEIGHT,
            states=await queries.order_states(),
            dead_letters=await queries.dead_letters_by_topic(),
            lag_groups=lag_by_group(console.status.lag),
            services=console.status.services,
            violations=console.status.violations,
        )

    return router
