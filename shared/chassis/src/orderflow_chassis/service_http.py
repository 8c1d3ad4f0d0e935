"""A service's own HTTP server: health, readiness and metrics beside its routes, served by
uvicorn inside the runtime's event loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orderflow_chassis.errors import describe_error, is_transient
from orderflow_chassis.http_guard import install_http_guards

if TYPE_CHECKING:
    from orderflow_chassis.runtime import RuntimeResources, ServiceRuntime


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
    install_http_guards(app)
    app.add_exception_handler(Exception, _unavailable_or_error)

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
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )

    @app.get("/metrics", tags=["health"])
    async def prometheus_metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in runtime.definition.routers:
        app.include_router(router)
    return app


async def _unavailable_or_error(request: Request, error: Exception) -> Response:
    """What a route's unexpected exception answers: 503 with ``Retry-After`` when it is an
    infrastructure hiccup (the database or the broker gone, a query cancelled: the same request
    may succeed in a moment), else Starlette's own 500 (a bug, logged with its traceback)."""
    if is_transient(error):
        return JSONResponse(
            {"detail": f"temporarily unavailable ({type(error).__name__}); retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    return PlainTextResponse("Internal Server Error", status_code=500)
