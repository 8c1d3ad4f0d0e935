"""The ops console as a person uses it: a real headless Chromium against the whole system.

One system for the module (four services, the console, a warehouse for two of the three
warehouses); each test opens a fresh browser profile and logs in as whoever it plays. The
pages are never reloaded where the console promises live updates: a mark left in the page's
JavaScript state proves the same page changed by itself.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.console_pages import (
    LIVE_TIMEOUT_MS,
    assert_same_page,
    log_in,
    mark_page,
    number_at,
    stage_count,
    wait_for_number_above,
)
from tests.browser.console_system import OPERATOR, VIEWER, ConsoleSystem, stopped
from tests.browser.dead_letter_scenario import (
    REASON,
    add_warehouse,
    count_stock_in_unknown_warehouse,
    on_hand,
)
from tests.support.kafka_tools import eventually
from tests.support.storefront_actions import WAREHOUSES, check_out, make_available, order_of_cart

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

STUCK_SKU = "MB-SPIKY-8CM"


async def test_log_in_and_watch_the_counts_move_while_orders_flow(
    system: ConsoleSystem, page: Page
) -> None:
    await page.goto(system.url("/"))
    assert urlsplit(page.url).path == "/login"
    await page.fill("#username", OPERATOR.username)
    await page.fill("#password", "not the password")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_contain_text("Wrong name or password")

    await log_in(page, system, OPERATOR)
    await expect(page.locator("#signed-in-as")).to_have_attribute("data-role", "operator")
    placed_before = await number_at(page, stage_count("placed"))
    completed_before = await number_at(page, stage_count("completed"))
    await mark_page(page)

    async with system.shoppers(per_second=3):
        placed = await wait_for_number_above(page, stage_count("placed"), placed_before + 2)
        completed = await wait_for_number_above(
            page, stage_count("completed"), completed_before + 1
        )
        await assert_same_page(page)
    assert placed > placed_before + 2
    assert completed > completed_before + 1


async def test_a_stuck_order_and_its_journey(
    system: ConsoleSystem, page: Page, screenshot_dir: Path
) -> None:
    # Japan ships from AP-SOUTHEAST, which no warehouse simulator plays: it never dispatches.
    # Every warehouse has the SKU (the shoppers may have sold Asia-Pacific's out).
    await make_available(system.services, STUCK_SKU, dict.fromkeys(WAREHOUSES, 50))
    stuck_cart = await check_out(system.services, [(STUCK_SKU, 2)], currency="JPY", country="JP")
    shipped_cart = await check_out(system.services, [("INS-GEL-M", 1)], country="US")
    stuck_order = await order_of_cart(system.services, stuck_cart)
    shipped_order = await order_of_cart(system.services, shipped_cart)

    await log_in(page, system, VIEWER, "/orders")
    stuck_row = page.locator(f'#stuck-orders tr[data-order-id="{stuck_order}"]')
    await mark_page(page)
    await expect(stuck_row).to_be_visible(timeout=LIVE_TIMEOUT_MS)  # listed once past its SLA
    await assert_same_page(page)
    await expect(stuck_row).to_contain_text("awaiting_shipment")
    shipped_row = page.locator(f'#stuck-orders tr[data-order-id="{shipped_order}"]')
    await expect(shipped_row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)

    # The customer quotes their cart id: the search finds the order.
    await page.fill("#order-search-q", stuck_cart)
    await page.click("#order-search-submit")
    found = page.locator("#orders-found tr[data-order-id]")
    await expect(found).to_have_count(1)
    await expect(found).to_have_attribute("data-order-id", stuck_order)

    await stuck_row.get_by_role("link", name=stuck_order).click()
    await page.wait_for_url(f"**/orders/{stuck_order}")
    await expect(page.locator("#order-state")).to_have_text("awaiting_shipment")
    await expect(page.locator("#order-total")).to_contain_text("JPY")
    journey = page.locator("#timeline tr[data-event-type]")
    for event_type in (
        "CheckoutRequested",
        "CartCheckedOut",
        "OrderPlaced",
        "PaymentAuthorized",
        "PaymentCaptured",
        "FulfillmentRequested",
    ):
        await expect(
            page.locator(f'#timeline tr[data-event-type="{event_type}"]')
        ).not_to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    await expect(page.locator('#timeline tr[data-event-type="ShipmentDispatched"]')).to_have_count(
        0
    )
    # Causation links: the order was placed because of the checkout request, and so on.
    placed_cause = page.locator('#timeline tr[data-event-type="OrderPlaced"] a[data-caused-by]')
    await expect(placed_cause).to_have_count(1)
    assert await journey.count() >= 6

    # A whole journey, for the README: the US order ships, is delivered and completes.
    await page.goto(system.url(f"/orders/{shipped_order}"))
    await expect(page.locator("#order-state")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    await page.screenshot(path=screenshot_dir / "console-order.png", full_page=True)


async def test_replay_a_dead_letter_after_the_fix_and_see_it_applied(
    system: ConsoleSystem, page: Page, tmp_path: Path
) -> None:
    event_id = await count_stock_in_unknown_warehouse(system, "NO-OSLO", on_hand=37)
    await log_in(page, system, OPERATOR, "/dead-letters")
    letter = page.locator(f'#dead-letters tr[data-event-id="{event_id}"]')
    await expect(letter).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    await expect(letter).to_have_attribute("data-error-code", REASON)
    await expect(letter).to_contain_text("NO-OSLO")

    await add_warehouse(system, "NO-OSLO", tmp_path)
    await letter.get_by_test_id("replay-one").click()
    await expect(page.locator("h1")).to_contain_text("Replay 1 dead letter")
    await expect(page.locator("#replay-chosen")).to_contain_text(event_id)
    await page.click("#replay-confirm")

    await page.wait_for_url("**/replays?*")
    replay = page.locator("#replays tr.highlight")
    await expect(replay).to_have_count(1)
    await expect(replay).to_contain_text(event_id)
    await expect(replay).to_contain_text(f"{OPERATOR.username} (operator)")
    await expect(replay).to_have_attribute("data-outcome", "applied", timeout=LIVE_TIMEOUT_MS)
    # Applied for real: fulfillment now holds the count the dead letter carried.
    assert await eventually(lambda: on_hand(system, "NO-OSLO"), lambda n: n == 37) == 37


async def test_replay_all_matching_a_filter_and_see_which_failed_again(
    system: ConsoleSystem, page: Page
) -> None:
    # Nobody loads this warehouse: its replayed count is dead-lettered again, for the same reason.
    event_id = await count_stock_in_unknown_warehouse(system, "FI-OULU", on_hand=3)
    await log_in(page, system, OPERATOR, "/dead-letters")
    await expect(page.locator(f'#dead-letters tr[data-event-id="{event_id}"]')).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )
    await page.select_option("#filter-reason", REASON)
    await page.click("#filter-submit")
    await page.wait_for_url(f"**/dead-letters?*reason={REASON}*")
    listed = await page.locator("#dead-letters tr[data-address]").count()
    assert listed >= 1
    await expect(page.locator(f'#dead-letters tr[data-error-code="{REASON}"]')).to_have_count(
        listed
    )

    await page.click("#replay-all")
    await expect(page.locator("#replay-what")).to_contain_text("all matching")
    await expect(page.locator("#replay-chosen")).to_contain_text(event_id)
    await page.click("#replay-confirm")
    await page.wait_for_url("**/replays?*")
    ours = page.locator("#replays tr.highlight", has_text=event_id)
    await expect(ours).to_have_count(1)
    await expect(ours).to_have_attribute(
        "data-outcome", "dead_lettered_again", timeout=LIVE_TIMEOUT_MS
    )
    await expect(ours.get_by_test_id("replay-outcome")).to_contain_text(REASON)


async def test_a_viewer_and_an_anonymous_request_cannot_replay(
    system: ConsoleSystem, browser: Browser, page: Page
) -> None:
    event_id = await count_stock_in_unknown_warehouse(system, "SE-MALMO", on_hand=5)
    await log_in(page, system, VIEWER, "/dead-letters")
    letter = page.locator(f'#dead-letters tr[data-event-id="{event_id}"]')
    await expect(letter).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    await expect(page.get_by_test_id("replay-one")).to_have_count(0)
    await expect(page.locator("#replay-all")).to_have_count(0)
    address = await letter.get_attribute("data-address")
    assert address is not None

    # The viewer posts the replay form anyway, with their own session cookie.
    as_viewer = await page.request.post(
        system.url("/dead-letters/replay"), form={"letter": address, "confirm": "yes"}
    )
    assert as_viewer.status == 403, await as_viewer.text()
    assert "only an operator may" in await as_viewer.text()

    anonymous = await browser.new_context()
    try:
        response = await anonymous.request.post(
            system.url("/dead-letters/replay"),
            form={"letter": address, "confirm": "yes", "all": "yes"},
            max_redirects=0,
        )
        assert response.status == 401, await response.text()
    finally:
        await anonymous.close()

    await page.goto(system.url("/replays"))
    await expect(page.locator("#replays")).not_to_contain_text(event_id)


async def test_an_unknown_order_and_a_malformed_filter_are_explained(
    system: ConsoleSystem, page: Page
) -> None:
    await log_in(page, system, VIEWER)
    response = await page.goto(system.url("/orders/no-such-order-42"))
    assert response is not None
    assert response.status == 404
    await expect(page.locator("#error-title")).to_have_text("Order not found")
    await expect(page.locator("#error-message")).to_contain_text("no-such-order-42")

    response = await page.goto(system.url("/orders?state=lost-in-space"))
    assert response is not None
    assert response.status == 400
    await expect(page.locator("#error-message")).to_contain_text("Unknown state 'lost-in-space'")


async def test_a_service_that_is_down_shows_as_down(
    system: ConsoleSystem, page: Page, screenshot_dir: Path
) -> None:
    await log_in(page, system, VIEWER)
    returns = page.locator('#services tr[data-service="returns"]')
    await expect(returns).to_have_attribute("data-up", "yes", timeout=LIVE_TIMEOUT_MS)
    # For the README: the module's orders, dead letters and replay are all on the overview.
    await page.screenshot(path=screenshot_dir / "console-overview.png")
    await mark_page(page)
    async with stopped(system, "returns"):
        await expect(returns).to_have_attribute("data-up", "no", timeout=LIVE_TIMEOUT_MS)
        await expect(returns.get_by_test_id("service-health")).to_have_text("down")
        await expect(page.locator('#services tr[data-service="cart"]')).to_have_attribute(
            "data-up", "yes"
        )
        await assert_same_page(page)
    await expect(returns).to_have_attribute("data-up", "yes", timeout=LIVE_TIMEOUT_MS)
