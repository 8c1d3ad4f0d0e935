"""What the pages make of their input and what they show, without a server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from orderflow_contracts.card_data import contains_card_number
from orderflow_ops.console.live import Changes, LiveStatus, ServiceStatus
from orderflow_ops.console.probes import LagProbe, probe_all
from orderflow_ops.console.web_common import PageError, template_environment
from orderflow_ops.console.web_dead_letters import (
    describe_selection,
    parse_addresses,
    parse_filter,
    safe_preview,
)
from orderflow_ops.console.web_orders import trace_links
from orderflow_ops.console.web_overview import sparkline

from ops.tests.console.console_harness import closed_port


def test_a_preview_never_shows_a_card_number_and_is_bounded() -> None:
    preview = safe_preview(b'{"note": "card 4111 1111 1111 1111 please", "x": "' + b"y" * 5000)
    assert "4111 1111 1111 1111" not in preview
    assert len(preview) <= 300
    assert "\x00" not in safe_preview(b"\x00\xff binary")


def test_a_malformed_filter_is_a_400_with_a_message() -> None:
    with pytest.raises(PageError) as refused:
        parse_filter({"reason": "x' OR 1=1"})
    assert refused.value.status == 400
    assert "malformed" in refused.value.message
    with pytest.raises(PageError):
        parse_filter({"topic": "orders"})  # not a dead-letter topic
    with pytest.raises(PageError):
        parse_addresses(["orders.dlq:one:2"])
    assert parse_addresses(["p.orders.dlq:1:42"]) == [("p.orders.dlq", 1, 42)]
    # Offsets PostgreSQL's bigint cannot hold, and digits int() reads but are not ASCII, are
    # a 400 here rather than a 500 from the query.
    for beyond in (
        "orders.dlq:0:9999999999999999999",
        "orders.dlq:0:\u0663",
        "orders.dlq:\u00b2:1",
    ):
        with pytest.raises(PageError) as refused:
            parse_addresses([beyond])
        assert refused.value.status == 400
    assert parse_filter({"service": "cart"}).describe() == "service=cart"


def test_a_selection_whose_parts_make_a_card_number_together_is_refused() -> None:
    # Review (helper 121): each address passed the HTTP screen; joined by ", " for the audit
    # and the Replays page, they read as a Luhn-valid Visa number.
    everything = parse_filter({})
    parts = parse_addresses(["orders.dlq:0:4111", "1111-1111-1111.dlq:0:1"])
    assert not contains_card_number(describe_selection(parts, everything))
    # What the HTTP guard refuses already is refused here too, whatever route it came by.
    with pytest.raises(PageError) as refused:
        describe_selection(parse_addresses(["4111-1111-1111-1111.dlq:0:1"]), everything)
    assert refused.value.status == 422
    assert "4111" not in refused.value.message
    two = parse_addresses(["orders.dlq:0:41", "payments.dlq:2:7"])
    assert describe_selection(two, everything) == "orders.dlq:0:41; payments.dlq:2:7"
    assert describe_selection([], parse_filter({"service": "cart"})) == "all matching service=cart"


def test_trace_links_come_from_the_traceparent_and_the_template() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_links("", [parent]) == []
    assert trace_links("http://jaeger/trace/{trace_id}", [parent, "garbage"]) == [
        ("4bf92f3577b34da6a3ce929d0e0e4736", "http://jaeger/trace/4bf92f3577b34da6a3ce929d0e0e4736")
    ]


def test_relay_leadership_is_read_from_the_readiness_checks() -> None:
    checks = {"outbox_relay": "leader", "outbox_relay_leader": "pid 42", "outbox_unsent": 3}
    leading = ServiceStatus("cart", "http://x", up=True, ready=True, detail="ok", checks=checks)
    assert leading.relay_leader_here is True
    assert leading.relay_leader == "pid 42"
    assert leading.outbox_unsent == 3
    standby = ServiceStatus(
        "cart", "http://x", up=True, ready=True, detail="ok", checks={"outbox_relay": "standby"}
    )
    assert standby.relay_leader_here is False
    down = ServiceStatus("cart", "http://x", up=False, ready=False, detail="down")
    assert down.relay_leader_here is None


def test_the_rate_chart_scales_to_its_box() -> None:
    points = sparkline([0, 5, 10], width=100, height=30)
    assert points == "0.0,29.0 50.0,15.0 100.0,1.0"
    assert sparkline([0, 0]) == "0.0,29.0 150.0,29.0"


def test_kafka_out_of_reach_marks_the_pages_stale_and_a_silent_service_down() -> None:
    status = LiveStatus()

    async def probe() -> None:
        lag = LagProbe(f"127.0.0.1:{closed_port()}", "orderflow.")
        async with httpx.AsyncClient(timeout=1.0) as client:
            await probe_all(status, lag, client, {"cart": f"http://127.0.0.1:{closed_port()}"})
        await lag.close()

    asyncio.run(probe())
    assert status.kafka_stale_since is not None
    assert [(s.name, s.up) for s in status.services] == [("cart", False)]
    page = (
        template_environment()
        .get_template("error.html")
        .render(title="t", message="m", session=None, status=status, now=datetime.now(UTC))
    )
    assert 'id="kafka-stale"' in page
    assert "stale since" in page


def test_a_change_wakes_every_page_waiting_for_one() -> None:
    async def scenario() -> tuple[list[int], int]:
        changes = Changes()
        waiting = [asyncio.create_task(changes.wait_past(0, timeout_s=30)) for _ in range(3)]
        await asyncio.sleep(0)
        changes.bump()
        woken = await asyncio.gather(*waiting)
        quiet = await changes.wait_past(changes.version, timeout_s=0.01)  # nothing new
        return woken, quiet

    woken, quiet = asyncio.run(scenario())
    assert woken == [1, 1, 1]
    assert quiet == 1
