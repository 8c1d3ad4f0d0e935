"""Browser tests: the ops console driven by a real headless Chromium, as a person uses it.

Chromium is Debian's `chromium` package, installed here when missing (with apt-get, as root;
see ``orderflow_localinfra.chromium``); Playwright drives that binary, so nothing is
downloaded from outside PyPI and Debian. No display is needed: Chromium runs headless.

One whole system per module (``console_system``): the four services and the console as
separate processes, on a topic prefix and a database of their own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from orderflow_localinfra.chromium import Chromium, ensure_chromium
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.errors import InfraError
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.browser.console_system import ConsoleSystem, console_system

SCREENSHOT_DIR_ENV = "ORDERFLOW_SCREENSHOT_DIR"
"""Where the tests write their screenshots; `make screenshots` points it at docs/screenshots.
Unset, they go to a temporary folder (taken all the same, so the code path always runs)."""

# Playwright's assertions wait 5 s by default: too little on a busy shared machine. Waits for
# live updates name their own, longer bound (console_pages.LIVE_TIMEOUT_MS).
expect.set_options(timeout=20_000)

VIEWPORT: ViewportSize = {"width": 1440, "height": 900}


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """Debian's Chromium, installed first if missing. Never a skip: a browser test that cannot
    run fails, with what to do about it."""
    try:
        found = ensure_chromium()
    except InfraError as error:
        pytest.fail(f"the browser tests need Chromium: {error}", pytrace=False)
    if found.installed_now:
        print(f"\nbrowser tests: installed {found.version} in {found.install_seconds:.0f}s")
    return found


@pytest.fixture(scope="module")
async def browser(chromium: Chromium) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium.executable),
            headless=True,
            # Containers and CI runners often have a small /dev/shm and no user namespaces.
            args=["--disable-dev-shm-usage", "--no-sandbox"],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test: no cookies, so each test logs in as whoever it is."""
    fresh = await browser.new_context(viewport=VIEWPORT)
    fresh.set_default_timeout(30_000)
    try:
        yield fresh
    finally:
        await fresh.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="module")
async def system(
    orderflow_infrastructure: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleSystem]:
    async with console_system(
        orderflow_infrastructure, Path(tmp_path_factory.mktemp("browser-logs"))
    ) as running:
        yield running


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get(SCREENSHOT_DIR_ENV)
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed browser test shows the last lines of every service's and the console's log."""
    report = yield
    running = getattr(item, "funcargs", {}).get("system")
    if report.failed and isinstance(running, ConsoleSystem):
        report.sections.append(("orderflow logs", running.logs()))
    return report
