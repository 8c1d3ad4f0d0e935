"""How long each page of a running console takes to answer, as a signed-in browser sees it
(``orderflow-console time-pages``): figures to report, never a test's pass mark."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass

import httpx

_ORDER_ID = re.compile(r'data-order-id="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([a-p]+)"')


@dataclass(frozen=True)
class PageTiming:
    path: str
    status: int
    median_ms: float
    max_ms: float
    size_kb: float


def time_pages(url: str, user: str, password: str, repeat: int) -> list[PageTiming]:
    with httpx.Client(base_url=url, timeout=60.0) as client:
        form = _CSRF.search(client.get("/login").text)
        token = form[1] if form else ""
        login = client.post(
            "/login", data={"username": user, "password": password, "csrf_token": token}
        )
        if login.status_code != 303:
            raise RuntimeError(f"login refused ({login.status_code})")
        listed = _ORDER_ID.findall(client.get("/orders").text)
        order = listed[0] if listed else "none"
        paths = [
            "/",
            "/orders",
            "/orders?state=completed",
            "/orders?state=awaiting_shipment",
            f"/orders?q={order}",
            f"/orders/{order}",
            "/dead-letters",
            "/replays",
        ]
        timings = []
        for path in paths:
            elapsed, status, size = [], 0, 0
            for _ in range(repeat):
                started = time.perf_counter()
                answer = client.get(path)
                elapsed.append((time.perf_counter() - started) * 1000)
                status, size = answer.status_code, len(answer.content)
            timings.append(
                PageTiming(path, status, statistics.median(elapsed), max(elapsed), size / 1024)
            )
        return timings
