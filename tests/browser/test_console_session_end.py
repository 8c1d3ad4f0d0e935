"""A console page left open past its login's end goes to the login page by itself: its live
stream ends with the session, and the browser, refused a new one, loads the page again (real
headless Chromium, the console alone on its own database)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from orderflow_localinfra.discovery import Infrastructure
from playwright.async_api import Page, expect

from ops.tests.console.console_harness import running_console
from tests.support.service_harness import unique_prefix

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_an_open_page_goes_to_the_login_page_when_the_session_ends(
    orderflow_infrastructure: Infrastructure, page: Page
) -> None:
    # Before, the stream outlived the session, and the page went on updating for ever.
    async with running_console(
        orderflow_infrastructure, unique_prefix("console-session-end"), session_hours=5 / 3600
    ) as console:
        await page.goto(f"{console.url}/")
        await page.fill("#username", "view")
        await page.fill("#password", "view-secret-2")
        await page.click("#login-submit")
        await expect(page.locator("#signed-in-as")).to_contain_text("view")
        assert await page.evaluate("document.body.dataset.live") == "on"

        # 5 s of session, the stream's end, its refused reopening, 10 s before the reload.
        await page.wait_for_url(lambda url: urlsplit(url).path == "/login", timeout=40_000)
        await expect(page.locator("#login-form")).to_be_visible()
