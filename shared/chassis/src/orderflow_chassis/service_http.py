"""A service's own HTTP server: health, readiness and metrics beside its routes, served by
uvicorn inside the runtime's event loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog
import uvicorn
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request, Response
from fastapi import HTTPException as DetailedHTTPException
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from orderflow_contracts.card_data import redact_card_numbers
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from orderflow_chassis.errors import TRANSIENT_TYPES, describe_error, is_transient, kafka_may_pass
from orderflow_chassis.http_guard import install_http_guards

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from orderflow_chassis.runtime import ServiceRuntime
    from orderflow_chassis.service_definition import RuntimeResources


class EmbeddedServer(uvicorn.Server):
    # The runtime owns SIGINT/SIGTERM; uvicorn must not install its own handlers.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_http_app(runtime: ServiceRuntime, resources: RuntimeResources) -> FastAPI:
    app = FastAPI(
        title=f"Orderflow {runtime.definition.name} service",
        description=runtime.definition.description,
    )
    app.state.resources = resources
    install_http_guards(app, max_body_bytes=runtime.definition.max_request_body_bytes)
    app.add_exception_handler(HTTPException, _redacted_http_error)
    app.add_exception_handler(RequestValidationError, _redacted_invalid_request)
    for infrastructure in _INFRASTRUCTURE:
        app.add_exception_handler(infrastructure, _unavailable_or_error)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process is up and its event loop answers."""
        return {"status": "ok", "service": runtime.definition.name}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        """Database and Kafka reachable, outbox relay healthy; 503 with the checks if not."""
        try:
            healthy, checks = await runtime.readiness()
        except Exception as error:  # readiness answers 503, never 500
            healthy, checks = False, {"readiness": f"failed: {describe_error(error)}"}
        return JSONResponse(
            {
                "status": "ok" if healthy else "unavailable",
                "service": runtime.definition.name,
                "checks": checks,
            },
            status_code=200 if healthy else 503,
        )

    @app.get("/metrics", tags=["health"])
    async def prometheus_metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in runtime.definition.routers:
        app.include_router(router)
    return app


# What a route's failure may answer 503 for rather than 500 (see ``_unavailable_or_error``):
# what a consumer retries, and the broker's errors.
_INFRASTRUCTURE = (*TRANSIENT_TYPES, KafkaError)
_NOT_INFRASTRUCTURE = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def _unavailable(error: Exception) -> bool:
    if isinstance(error, _NOT_INFRASTRUCTURE):  # OSErrors, but a bug's, not a lost server's
        return False
    if isinstance(error, KafkaError):
        return kafka_may_pass(error)
    return is_transient(error)


async def _unavailable_or_error(request: Request, error: Exception) -> Response:
    """What a route's infrastructure failure answers: 503 with ``Retry-After`` when it is a
    hiccup (the database or the broker gone, a query cancelled: the same request may succeed
    in a moment), logged as a warning; else the 500 of a bug, logged with its traceback. The
    handler is registered per exception class, so Starlette does not log a 503 as a crash."""
    if _unavailable(error):
        log.warning("http.unavailable", path=request.url.path, error=describe_error(error))
        return JSONResponse(
            {"detail": f"temporarily unavailable ({type(error).__name__}); retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    log.error("http.failed", path=request.url.path, exc_info=error)
    return PlainTextResponse("Internal Server Error", status_code=500)


# An error answer may echo the request: FastAPI's 422 its input, a route's 400 or 404 the id it
# could not use. The guard screens path segments by the lenient identifier rule (an id may hold
# digits), so ``/orders/x4222222222222`` (a 13-digit Visa glued to a letter) reaches a route:
# every card number an answer would echo is redacted, by the rule log lines follow.


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact_card_numbers(value)
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


async def _redacted_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    redacted = DetailedHTTPException(error.status_code, _redacted(error.detail), error.headers)
    return await http_exception_handler(request, redacted)


async def _redacted_invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = _redacted(list(error.errors()))
    assert isinstance(errors, list)
    return await request_validation_exception_handler(request, RequestValidationError(errors))
