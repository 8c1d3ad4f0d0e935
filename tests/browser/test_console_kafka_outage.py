"""Kafka briefly unreachable: the console says "stale since <time>" and keeps serving its
pages, then recovers by itself once Kafka is back (the banner goes, new events arrive).

The console runs as its own process, as `make run` starts it, against a PRIVATE broker this
test starts, stops and starts again (the shared broker is never touched); a real headless
Chromium watches the overview without reloading it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.kafka import KafkaBroker
from orderflow_ops.system import ServiceProcess, wait_until_ready
from playwright.async_api import Page, expect

from ops.tests.console.console_harness import envelope
from tests.browser.console_pages import LIVE_TIMEOUT_MS, assert_same_page, mark_page
from tests.support.private_kafka import on_broker, private_broker
from tests.support.service_harness import publish_envelopes, unique_prefix
from tests.support.system_harness import free_port

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

OPERATOR = ("outage-watch", "outage-password-for-tests")
CONSOLE_READY_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with private_broker(tmp_path_factory.mktemp("private-kafka")) as started:
        yield started


@pytest.fixture
async def console(
    orderflow_infrastructure: Infrastructure,
    broker: KafkaBroker,
    tmp_path: Path,
) -> AsyncIterator[tuple[ServiceProcess, Infrastructure, str]]:
    prefix = unique_prefix("outage")
    async with isolated_database(orderflow_infrastructure, "outage", ["console"]) as own:
        private = on_broker(own, broker)
        process = ServiceProcess(
            "console", free_port(), tmp_path / "console.log", module="orderflow_ops.console"
        )
        process.start(
            private,
            {
                "KAFKA_TOPIC_PREFIX": prefix,
                "CONSOLE_USERS": f"{OPERATOR[0]}:operator:{OPERATOR[1]}",
                "CONSOLE_PROBE_INTERVAL_S": "0.5",
                "LOG_LEVEL": "INFO",
            },
        )
        try:
            await asyncio.to_thread(wait_until_ready, [process], timeout_s=CONSOLE_READY_TIMEOUT_S)
            yield process, private, prefix
        finally:
            await asyncio.to_thread(process.stop)
            print(f"--- console log (last lines)\n{process.log_tail(30)}")


async def log_in(page: Page, base_url: str) -> None:
    await page.goto(base_url + "/")
    assert urlsplit(page.url).path == "/login"
    await page.fill("#username", OPERATOR[0])
    await page.fill("#password", OPERATOR[1])
    await page.click("#login-submit")
    await expect(page.locator("#signed-in-as")).to_contain_text(OPERATOR[0])


async def publish_order(private: Infrastructure, prefix: str) -> str:
    order_id = str(uuid.uuid4())
    placed = envelope("OrderPlaced", 0, order_id=order_id, cart_id=f"cart-{order_id[:8]}")
    await publish_envelopes(private, prefix, [placed])
    return order_id


async def see_order(page: Page, base_url: str, order_id: str) -> None:
    """Open the order's page until the console has read the order (it may be a moment)."""
    title = page.locator(f'#order-title[data-order-id="{order_id}"]')
    async with asyncio.timeout(LIVE_TIMEOUT_MS / 1000):
        while True:
            await page.goto(f"{base_url}/orders/{order_id}")
            if await title.count():
                return
            await asyncio.sleep(1)


async def test_kafka_away_shows_stale_since_keeps_serving_and_recovers(
    console: tuple[ServiceProcess, Infrastructure, str], broker: KafkaBroker, page: Page
) -> None:
    process, private, prefix = console
    base_url = process.base_url
    await log_in(page, base_url)
    before = await publish_order(private, prefix)
    await see_order(page, base_url, before)
    stale = page.locator("#kafka-stale")
    await page.goto(base_url + "/")
    await expect(stale).to_have_count(0)
    await mark_page(page)

    await asyncio.to_thread(broker.stop)
    try:
        # The open overview learns it by itself, without a reload.
        await expect(stale).to_contain_text("stale since", timeout=LIVE_TIMEOUT_MS)
        await assert_same_page(page)
        # Every page is still served, from the read model, with the same banner.
        await page.goto(f"{base_url}/orders/{before}")
        await expect(page.locator("#order-state")).to_be_visible()
        await expect(stale).to_contain_text("stale since")
        assert process.exit_code() is None, process.log_tail(40)
        await page.goto(base_url + "/")
        await mark_page(page)
    finally:
        await asyncio.to_thread(broker.start)

    await expect(stale).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    await assert_same_page(page)
    after = await publish_order(private, prefix)  # consumption resumed, not only the probe
    await see_order(page, base_url, after)
    assert process.exit_code() is None, process.log_tail(40)
