"""A service's HTTP app answers an infrastructure hiccup in a route with a 503, not a 500, and
no error answer echoes a card number."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import httpx
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, HTTPException
from orderflow_chassis.service_http import build_http_app


def client(*, raise_app_exceptions: bool = False) -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/database-gone")
    async def database_gone() -> None:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    @router.get("/query-cancelled")
    async def query_cancelled() -> None:
        raise asyncpg.exceptions.QueryCanceledError("canceling statement due to user request")

    @router.get("/broker-gone")
    async def broker_gone() -> None:
        raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 19092)]")

    @router.get("/bug")
    async def bug() -> None:
        raise KeyError("no such thing")

    @router.get("/file-bug")
    async def file_bug() -> None:
        raise FileNotFoundError("templates/missing.html")  # an OSError, but a bug's

    @router.get("/orders/{order_id}")
    async def order(order_id: uuid.UUID) -> None: ...

    @router.get("/carts/{cart_id}")
    async def cart(cart_id: str) -> None:
        raise HTTPException(404, f"no cart {cart_id!r}", headers={"X-Probe": "kept"})

    definition = SimpleNamespace(
        name="probe", description="", routers=[router], max_request_body_bytes=0
    )
    runtime = cast(Any, SimpleNamespace(definition=definition))
    app = build_http_app(runtime, cast(Any, SimpleNamespace()))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_route_the_database_failed_answers_503_with_retry_after() -> None:
    http = client(raise_app_exceptions=True)  # handled: nothing reaches the server as a crash
    for path in ("/database-gone", "/query-cancelled", "/broker-gone"):
        answer = await http.get(path)
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "1"), path
        assert answer.json()["detail"].startswith("temporarily unavailable (")


async def test_a_bug_in_a_route_is_still_a_500() -> None:
    for path in ("/bug", "/file-bug"):
        answer = await client().get(path)
        assert answer.status_code == 500, path
        assert "no such thing" not in answer.text


CARD = "4111111111111111"


# Stop 44: the guard refuses "x4111111111111111" in a path now (16 digits or more glued to
# letters); a 13-digit Visa glued to a letter is still an id's digits to it, and a card number
# to the free-text rule that redacts answers.
GLUED_CARD = "4222222222222"


async def test_an_error_answer_never_echoes_a_card_number_of_the_path() -> None:
    # The guard lets "x4222..." through as an id; FastAPI's 422 echoed it as its input, and a
    # route's 404 in its message.
    http = client()
    invalid = await http.get(f"/orders/x{GLUED_CARD}")
    unknown = await http.get(f"/carts/x{GLUED_CARD}")

    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["path", "order_id"]
    assert unknown.status_code == 404
    assert unknown.headers["x-probe"] == "kept"
    assert unknown.json()["detail"].startswith("no cart 'x")
    for answer in (invalid, unknown):
        assert GLUED_CARD not in answer.text
        assert "REDACTED" in answer.text


async def test_a_service_whose_routes_take_no_body_refuses_one_unread() -> None:
    # Review (helper 109): every service screened bodies up to 64 KiB on any path, before any
    # route or login, on the loop its consumers share; a burst of small ones held it seconds.
    http = client()
    for path in ("/health/live", "/no-such-route"):
        response = await http.post(path, content=b"1234." * 200)
        assert response.status_code == 413, path
        assert response.json() == {"detail": "a POST request takes no body"}
