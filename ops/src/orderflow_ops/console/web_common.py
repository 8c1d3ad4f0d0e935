"""What every page shares: the console's context, sign-in checks, HTML errors, rendering."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from orderflow_chassis.errors import describe_error
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts.card_data import redact_card_numbers

from orderflow_ops.console.auth import Session, SessionSigner, User
from orderflow_ops.console.ended_sessions import has_ended
from orderflow_ops.console.live import LiveStatus
from orderflow_ops.console.login_throttle import LoginThrottle
from orderflow_ops.console.read_model_queries import ReadModelQueries
from orderflow_ops.console.settings import ConsoleSettings

log = structlog.get_logger(__name__)

SESSION_COOKIE = "orderflow_console_session"
MAX_FORM_BYTES = 64 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Console:
    """Everything the pages need, built once at start."""

    settings: ServiceSettings
    console_settings: ConsoleSettings
    status: LiveStatus
    users: dict[str, User]
    signer: SessionSigner
    templates: Environment
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def queries(self, request: Request) -> ReadModelQueries:
        return ReadModelQueries(request.app.state.resources.pool, self.settings.db_schema)


@functools.cache
def template_environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("orderflow_ops.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["ago"] = _ago
    return environment


class PageError(Exception):
    """Answered as an HTML page with ``status`` (see :class:`PageRoute`)."""

    def __init__(
        self, status: int, title: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.headers = status, title, message, headers


class PageRoute(APIRoute):
    """A route of the console: its :class:`PageError` (raised by it or its dependencies)
    becomes an HTML page, and its dependencies find the console in ``request.state``."""

    console: Console | None = None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        console = self.console

        async def handler(request: Request) -> Response:
            request.state.console = console
            try:
                return await original(request)
            except PageError as error:
                return error_page(request, error)

        return handler


def console_router(console: Console) -> APIRouter:
    """A router whose routes are the console's pages."""
    route_class = type("ConsolePageRoute", (PageRoute,), {"console": console})
    return APIRouter(route_class=route_class, include_in_schema=False)


def error_page(request: Request, error: PageError) -> Response:
    # A message may quote the request (an order id the guard let through as an identifier):
    # a card number in it is redacted, as in every error answer of the services.
    message = redact_card_numbers(error.message)
    body = (
        template_environment()
        .get_template("error.html")
        .render(title=error.title, message=message, session=None, http_status=error.status)
    )
    return HTMLResponse(body, status_code=error.status, headers=error.headers)


async def session_of(console: Console, request: Request) -> Session | None:
    """The request's session, while its user is still in ``CONSOLE_USERS`` with the same role
    and password, and nobody logged out of it: a cookie signed before an operator was removed,
    made a viewer or given a new password, or a copy of one logged out of, proves nothing."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session = console.signer.verify(cookie, now=time.time(), users=console.users)
    if session is None:
        return None
    try:
        ended = await has_ended(
            request.app.state.resources.pool, console.settings.db_schema, session
        )
    except Exception as error:  # not "logged out": nothing says it was not
        log.warning("console.session_check_failed", error=describe_error(error))
        raise PageError(503, "Database unavailable", _NO_DATABASE, {"Retry-After": "5"}) from error
    return None if ended else session


_NO_DATABASE = (
    "The console's database did not answer, so the session could not be checked: try again."
)


def console_of(request: Request) -> Console:
    console = getattr(request.state, "console", None)
    if not isinstance(console, Console):
        raise RuntimeError("a console page is served by a console_router route")
    return console


async def signed_in(request: Request) -> Session:
    """The signed-in session; a page asked for anonymously goes to the login page, anything
    else (a form post, the live stream) gets 401."""
    session = await session_of(console_of(request), request)
    if session is not None:
        return session
    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        query = "?" + request.url.query if request.url.query else ""
        target = quote(request.url.path + query)
        raise PageError(303, "Log in", "Log in first.", {"Location": f"/login?next={target}"})
    raise PageError(401, "Not logged in", "Log in to the console first.")


Viewer = Annotated[Session, Depends(signed_in)]
"""A page parameter: anyone signed in (viewer or operator)."""


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (bounded); 415 for any other type."""
    # The HTTP guard decodes a body as a form, and screens its fields for card numbers, only
    # when its Content-Type says it is one: a form sent as text/plain would reach the route
    # unscreened. Parameters (``; charset=UTF-8``) may follow; nothing may come before.
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].rstrip(" \t").lower() != FORM_CONTENT_TYPE:
        raise PageError(
            415,
            "Not a form",
            f"The request must be sent as a form (Content-Type: {FORM_CONTENT_TYPE}).",
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "Too large", "The form is too large.")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError) as error:
        raise PageError(400, "Bad form", "The form could not be read.") from error


def require_write(console: Console, session: Session, form: dict[str, list[str]]) -> None:
    """A write action: an operator, with the session's CSRF token in the form."""
    if not session.may_replay:
        raise PageError(
            403, "Not allowed", f"{session.name} is a {session.role.value}: only an operator may."
        )
    token = (form.get("csrf_token") or [""])[0]
    if not console.signer.csrf_ok(session, token):
        raise PageError(
            403, "Form expired", "The form's CSRF token is missing or wrong: reload the page."
        )


def render(
    console: Console,
    request: Request,
    template: str,
    session: Session,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    console.status.attention.looked()
    body = console.templates.get_template(template).render(
        session=session,
        csrf_token=console.signer.csrf_token(session),
        status=console.status,
        now=datetime.now(UTC),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"
