"""Logging in and out: a signed, HttpOnly, SameSite=Strict session cookie.

The login form itself is protected against CSRF: it carries a token bound to a login nonce
cookie (see :mod:`orderflow_ops.console.auth`); a login post without both is refused with 403.
Failed logins slow the next ones for the same name (429 with ``Retry-After``,
:mod:`orderflow_ops.console.login_throttle`).
"""

from __future__ import annotations

import math
import re
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from orderflow_ops.console.auth import authenticate
from orderflow_ops.console.ended_sessions import end_session
from orderflow_ops.console.web_common import (
    SESSION_COOKIE,
    Console,
    PageError,
    console_router,
    read_form,
    session_of,
    template_environment,
)

LOGIN_NONCE_COOKIE = "orderflow_console_login"
LOGIN_NONCE_LIFETIME_S = 3600
_NONCE = re.compile(r"[0-9a-f]{32}")


def _safe_next(target: str | None) -> str:
    # Only a path of this console: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def login_router(console: Console) -> APIRouter:
    router = console_router(console)

    def login_page(
        request: Request, next_path: str, message: str = "", status: int = 200
    ) -> HTMLResponse:
        # Keep the nonce the browser already has: two open login tabs both stay valid.
        nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or ""
        if not _NONCE.fullmatch(nonce):
            nonce = console.signer.new_login_nonce()
        body = (
            template_environment()
            .get_template("login.html")
            .render(
                session=None,
                next=next_path,
                message=message,
                no_users=not console.users,
                csrf_token=console.signer.login_csrf_token(nonce),
            )
        )
        response = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            LOGIN_NONCE_COOKIE,
            nonce,
            max_age=LOGIN_NONCE_LIFETIME_S,
            httponly=True,
            samesite="strict",
            secure=console.console_settings.cookie_secure,
            path="/login",
        )
        return response

    @router.get("/login")
    async def show_login(request: Request) -> Response:
        return login_page(request, _safe_next(request.query_params.get("next")))

    @router.post("/login")
    async def log_in(request: Request) -> Response:
        form = await read_form(request)
        name = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        token = (form.get("csrf_token") or [""])[0]
        if not console.signer.login_csrf_ok(request.cookies.get(LOGIN_NONCE_COOKIE), token):
            # Checked before the password: a forged login learns nothing about it either.
            message = (
                "The login form's CSRF token is missing or wrong "
                "(an expired form, or a form from another site): log in again on this page."
            )
            return login_page(request, target, message, status=403)
        now = time.monotonic()
        client = request.client.host if request.client is not None else ""
        if (wait_s := console.login_throttle.wait_s(name, client, now)) > 0:
            retry = math.ceil(wait_s)
            message = f"Too many failed logins for this name: try again in {retry} s."
            answer = login_page(request, target, message, status=429)
            answer.headers["Retry-After"] = str(retry)
            return answer
        user = authenticate(console.users, name, password)
        if user is None:
            console.login_throttle.failed(name, client, now)
            return login_page(request, target, "Wrong name or password.", status=401)
        console.login_throttle.succeeded(name, client)
        lifetime = console.console_settings.session_hours * 3600
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            console.signer.issue(user, now=time.time(), lifetime_s=lifetime),
            max_age=int(lifetime),
            httponly=True,
            samesite="strict",
            secure=console.console_settings.cookie_secure,
            path="/",
        )
        response.delete_cookie(LOGIN_NONCE_COOKIE, path="/login", httponly=True, samesite="strict")
        return response

    @router.post("/logout")
    async def log_out(request: Request) -> Response:
        # Logging out needs no CSRF token: the worst a forged one does is log someone out.
        if (session := await session_of(console, request)) is not None:
            try:
                await end_session(
                    request.app.state.resources.pool, console.settings.db_schema, session
                )
            except Exception as error:  # the cookie stays: logging out again can end it
                message = (
                    "The console's database did not answer: the session was not ended. "
                    "Log out again."
                )
                raise PageError(503, "Not logged out", message, {"Retry-After": "5"}) from error
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return router
