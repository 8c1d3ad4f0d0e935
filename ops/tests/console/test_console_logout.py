"""Logging out ends the session on the server: a copy of its cookie (a shared machine, a
proxy's log) proves nothing afterwards, on this instance or another one on the same database;
the user's other sessions go on (real broker and database)."""

from __future__ import annotations

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_ops.console import web_common
from orderflow_ops.console.web_common import SESSION_COOKIE

from ops.tests.console.console_harness import console_on, running_console
from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.integration


async def test_a_copied_cookie_proves_nothing_once_its_session_was_logged_out_of(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with (
        running_console(orderflow_infrastructure, unique_prefix("console-logout")) as console,
        console.signed_in("op", "op-secret-1") as browser,
        console.signed_in("op", "op-secret-1") as other_browser,
        console.client() as thief,
    ):
        copied = browser.cookies[SESSION_COOKIE]
        thief.cookies.set(SESSION_COOKIE, copied)
        assert (await thief.get("/")).status_code == 200, "the copy works while it lasts"

        logged_out = await browser.post("/logout")
        assert logged_out.status_code == 303
        assert logged_out.headers["location"] == "/login"

        page = await thief.get("/dead-letters")
        assert page.status_code == 303, page.text
        assert page.headers["location"].startswith("/login")
        stream = await thief.get("/live", headers={"accept": "text/event-stream"})
        assert stream.status_code == 401
        assert (await other_browser.get("/")).status_code == 200, "only that session ended"

        again = await thief.post("/logout")  # harmless: nothing left to end
        assert again.status_code == 303


async def test_a_logout_on_one_instance_ends_the_session_on_another(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # Review (helper 117): the claim was only tested on one instance.
    prefix = unique_prefix("console-logout-two")
    secret = "s" * 40  # the instances must share it to accept each other's sessions
    async with (
        isolated_database(orderflow_infrastructure, "console", services=["console"]) as shared,
        console_on(shared, prefix, session_secret=secret) as first,
        console_on(shared, prefix, session_secret=secret) as second,
        first.signed_in("view", "view-secret-2") as browser,
        second.client() as elsewhere,
    ):
        elsewhere.cookies.set(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
        assert (await elsewhere.get("/")).status_code == 200

        assert (await browser.post("/logout")).status_code == 303

        page = await elsewhere.get("/")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")


async def test_a_session_that_cannot_be_checked_is_refused_with_503_never_let_through(
    orderflow_infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_away(*_: object) -> bool:
        raise ConnectionError("the console's database did not answer")

    async with (
        running_console(orderflow_infrastructure, unique_prefix("console-no-db")) as console,
        console.signed_in("view", "view-secret-2") as browser,
    ):
        monkeypatch.setattr(web_common, "has_ended", database_away)
        page = await browser.get("/")
        assert page.status_code == 503
        assert "the session could not be checked" in page.text
        assert page.headers["retry-after"] == "5"
