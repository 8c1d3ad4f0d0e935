"""What a person does on the console's pages, in the browser: log in, read a figure, wait for
the page to change by itself. Locators use the pages' stable ids and ``data-*`` attributes."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Page, expect

from tests.browser.console_system import ConsoleSystem, Credentials

LIVE_TIMEOUT_MS = 60_000
"""How long a test waits for the page to show what happened: generous, as the machine is
shared. The console promises 2 s; this is no timed assertion, only a bound on waiting."""


async def log_in(page: Page, system: ConsoleSystem, who: Credentials, path: str = "/") -> None:
    """Open ``path``, get sent to the login page, log in, and land on ``path``."""
    await page.goto(system.url(path))
    await expect(page.locator("#login-form")).to_be_visible()
    assert urlsplit(page.url).path == "/login"
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("#login-submit")
    await page.wait_for_url(lambda url: urlsplit(url).path == urlsplit(system.url(path)).path)
    await expect(page.locator("#signed-in-as")).to_contain_text(who.username)


def stage_count(stage: str) -> str:
    """The CSS selector of a pipeline stage's count on the overview."""
    return f'#stages tr[data-stage="{stage}"] [data-testid="stage-count"]'


async def number_at(page: Page, css: str) -> int:
    return int((await page.locator(css).inner_text()).strip())


async def wait_for_number_above(page: Page, css: str, floor: int) -> int:
    """Wait, without reloading, until the element at ``css`` shows a number above ``floor``."""
    await page.wait_for_function(
        """([css, floor]) => {
            const cell = document.querySelector(css);
            return cell !== null && Number(cell.textContent.trim()) > floor;
        }""",
        arg=[css, floor],
        timeout=LIVE_TIMEOUT_MS,
    )
    return await number_at(page, css)


async def mark_page(page: Page) -> None:
    """Leave a mark in the page's JavaScript state: a reload or navigation would erase it."""
    await page.evaluate("() => { window.orderflowTestMark = 'still the same page'; }")


async def assert_same_page(page: Page) -> None:
    mark = await page.evaluate("() => window.orderflowTestMark")
    assert mark == "still the same page", "the page was reloaded instead of updated live"
