"""Logging in and out: a signed, HttpOnly, SameSite=Strict session cookie."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from orderflow_ops.console.auth import authenticate
from orderflow_ops.console.web_common import (
    SESSION_COOKIE,
    Console,
    console_router,
    read_form,
    template_environment,
)


def _safe_next(target: str | None) -> str:
    # Only a path of this console: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def login_router(console: Console) -> APIRouter:
    router = console_router(console)

    def login_page(next_path: str, message: str = "", status: int = 200) -> HTMLResponse:
        body = (
            template_environment()
            .get_template("login.html")
            .render(session=None, next=next_path, message=message, no_users=not console.users)
        )
        return HTMLResponse(body, status_code=status)

    @router.get("/login")
    async def show_login(request: Request) -> Response:
        return login_page(_safe_next(request.query_params.get("next")))

    @router.post("/login")
    async def log_in(request: Request) -> Response:
        form = await read_form(request)
        name = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        user = authenticate(console.users, name, password)
        if user is None:
            return login_page(target, "Wrong name or password.", status=401)
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
        return response

    @router.post("/logout")
    async def log_out() -> Response:
        # Logging out needs no CSRF token: the worst a forged one does is log someone out.
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return router
