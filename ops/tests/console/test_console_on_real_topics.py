"""The ops console on a real broker and database: its read model fills from the topics, its
pages show it, and bad input gets a clear answer.

Each test runs the console in-process on its own topic prefix (its own consumer groups), and
talks to it over real HTTP as a browser would.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.console import read_model_queries

from ops.tests.console.console_harness import (
    captured_order,
    csrf_token,
    envelope,
    running_console,
)
from tests.support.kafka_tools import eventually, publish_raw, publish_records
from tests.support.service_harness import publish_envelopes, unique_prefix

pytestmark = pytest.mark.integration


async def _page_once(client: httpx.AsyncClient, path: str, *needles: str) -> httpx.Response:
    """The page at ``path`` once it shows every needle (the read model fills asynchronously)."""
    final = await eventually(
        lambda: client.get(path),
        lambda answer: answer.status_code == 200 and all(n in answer.text for n in needles),
        timeout_s=60,
    )
    assert final.status_code == 200, final.text[:500]
    for needle in needles:
        assert needle in final.text, f"{needle!r} not on {path}"
    return final


async def test_the_read_model_fills_from_real_topics_and_every_page_shows_it(
    orderflow_infrastructure: Infrastructure,
) -> None:
    prefix = unique_prefix("console-pages")
    order_id, cart_id = str(uuid.uuid4()), f"cart-{uuid.uuid4().hex[:8]}"
    async with running_console(orderflow_infrastructure, prefix, sla_shipment_s=60) as console:
        await publish_envelopes(orderflow_infrastructure, prefix, captured_order(order_id, cart_id))
        # One cart checked out into two orders, an hour ago, neither of them ever placed.
        twice = [
            envelope("CartCheckedOut", 0, cart_id="cart-twice", order_id=str(uuid.uuid4()))
            for _ in range(2)
        ]
        await publish_envelopes(orderflow_infrastructure, prefix, twice)
        async with console.signed_in("view", "view-secret-2") as viewer:
            order_page = await _page_once(
                viewer, f"/orders/{order_id}", "PaymentCaptured", "awaiting_shipment"
            )
            for shown in ("CheckoutRequested", "OrderPlaced", "55.44 EUR", 'data-caused-by="'):
                assert shown in order_page.text  # the journey, its money, its causation links

            overview = await _page_once(viewer, "/", 'data-stage="captured"')
            assert 'data-service="cart" data-up="no"' in overview.text  # a service down shows
            counted = re.search(
                r'data-state="awaiting_shipment">.*?class="num">(\d+)<', overview.text
            )
            assert counted is not None
            assert counted[1] == "1"  # the running count of orders per state

            # Waiting for its shipment for an hour, with a one-minute SLA: stuck, and the
            # invariant monitor says so with the same rule as `orderflow-ops check`.
            orders = await _page_once(viewer, f"/orders?q={cart_id}", order_id)
            stuck_section = orders.text.split('<table id="stuck-orders"')[1].split("</table>")[0]
            assert order_id in stuck_section
            await _page_once(
                viewer,
                "/",
                'data-violation="charged_not_shipped"',
                'data-violation="cart_with_several_orders"',
                'data-violation="checked_out_without_order"',
            )

            # An order id typed in upper case is the same order (the read model stores UUIDs
            # in lower case): it was "Order not found", and a search found nothing.
            upper = await viewer.get(f"/orders/{order_id.upper()}")
            assert (upper.status_code, "PaymentCaptured" in upper.text) == (200, True)
            searched = await viewer.get(f"/orders?q={order_id.upper()}")
            found = searched.text.split('<table id="orders-found"')[1].split("</table>")[0]
            assert f'data-order-id="{order_id}"' in found

            missing = await viewer.get(f"/orders/{uuid.uuid4()}")
            assert missing.status_code == 404
            assert "Order not found" in missing.text

            bad_state = await viewer.get("/orders?state=teleported")
            assert bad_state.status_code == 400
            assert "Unknown state" in bad_state.text
            bad_topic = await viewer.get("/dead-letters?topic=orders%27%3B")
            assert bad_topic.status_code == 400
            assert "malformed" in bad_topic.text

        async with console.client() as anonymous:
            answer = await anonymous.get(f"/orders/{order_id}")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=")
            form = await anonymous.get("/login")
            refused = await anonymous.post(
                "/login",
                data={"username": "view", "password": "x", "csrf_token": csrf_token(form.text)},
            )
            assert refused.status_code == 401


async def test_a_page_hears_of_a_new_event_over_server_sent_events(
    orderflow_infrastructure: Infrastructure,
) -> None:
    prefix = unique_prefix("console-live")
    traces = "http://traces.example/trace/{trace_id}"
    async with (
        running_console(orderflow_infrastructure, prefix, trace_url_template=traces) as console,
        console.signed_in("view", "view-secret-2") as viewer,
        viewer.stream("GET", "/live") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await anext(lines) == "retry: 1000"
        order_id = str(uuid.uuid4())
        placed = envelope("OrderPlaced", 0, order_id=order_id, cart_id="cart-live")
        trace_id = uuid.uuid4().hex
        # As the outbox publishes it, with the W3C trace context of its trace.
        headers = [
            ("event_id", str(placed.event_id).encode()),
            ("event_type", b"OrderPlaced"),
            ("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01".encode()),
        ]
        await publish_raw(
            orderflow_infrastructure.kafka_bootstrap_servers,
            f"{prefix}orders",
            [(order_id.encode(), placed.to_bytes())],
            headers=headers,
        )

        async def next_change() -> str:
            async for line in lines:
                if line.startswith("event: "):
                    return line
            return ""

        assert await wait_at_most(60, next_change()) == "event: change"
        page = await _page_once(viewer, f"/orders/{order_id}", "OrderPlaced")
        assert f'href="http://traces.example/trace/{trace_id}"' in page.text
        assert f"{prefix}orders[" in page.text  # where the record was on Kafka


async def test_an_event_is_stored_from_its_own_record_never_from_a_header_claiming_its_id(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # Review (helper 115): the console looked records up by their event_id header, which the
    # sender chooses. A refused record claiming a valid event's id had its bytes (a card
    # number) stored as that event's envelope, at its offset, with its trace context; a NUL
    # traceparent made PostgreSQL refuse a valid event until it was dead-lettered.
    prefix = unique_prefix("console-own-record")
    order_id, cart_id = str(uuid.uuid4()), f"cart-{uuid.uuid4().hex[:8]}"
    placed = envelope("OrderPlaced", 1, cart_id=cart_id, order_id=order_id)
    topic = f"{prefix}orders"
    kafka = orderflow_infrastructure.kafka_bootstrap_servers
    async with running_console(orderflow_infrastructure, prefix) as console:
        await publish_records(
            kafka,
            topic,
            [
                (
                    order_id.encode(),
                    b'{"note": "4111 1111 1111 1111"}',
                    [("event_id", str(placed.event_id).encode()), ("traceparent", b"\x00" * 10)],
                ),
                (order_id.encode(), placed.to_bytes(), [("traceparent", b"\x00")]),
            ],
        )
        pool = console.runtime.pool
        stored = await eventually(
            lambda: pool.fetchrow(
                "SELECT kafka_offset, envelope, traceparent FROM console.events"
                " WHERE event_id = $1",
                placed.event_id,
            ),
            lambda row: row is not None,
        )
        assert stored is not None, "the valid event is applied, not dead-lettered"
        assert stored["kafka_offset"] == 1, "at its own record's offset, after the refused one"
        assert "4111" not in stored["envelope"]
        assert Envelope.model_validate_json(stored["envelope"]).event_id == placed.event_id
        assert stored["traceparent"] is None


async def test_a_journey_cut_at_the_pages_limit_says_so(
    orderflow_infrastructure: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A page reads at most MAX_TIMELINE_EVENTS events; a journey past it looked whole.
    monkeypatch.setattr(read_model_queries, "MAX_TIMELINE_EVENTS", 4)
    prefix = unique_prefix("console-cut")
    order_id, cart_id = str(uuid.uuid4()), f"cart-{uuid.uuid4().hex[:8]}"
    async with running_console(orderflow_infrastructure, prefix) as console:
        await publish_envelopes(orderflow_infrastructure, prefix, captured_order(order_id, cart_id))
        async with console.signed_in("view", "view-secret-2") as viewer:
            page = await _page_once(viewer, f"/orders/{order_id}", "PaymentCaptured")
            assert "Journey (4 events)" in page.text
            assert 'id="timeline-cut"' in page.text
            assert f"orderflow-ops timeline {order_id}" in page.text
            monkeypatch.setattr(read_model_queries, "MAX_TIMELINE_EVENTS", 2000)
            whole = await viewer.get(f"/orders/{order_id}")
            assert 'id="timeline-cut"' not in whole.text
            # Review (helper 117): a walk out of hops, ids still to follow, is cut too.
            monkeypatch.setattr(read_model_queries, "MAX_TIMELINE_HOPS", 1)
            one_hop = await viewer.get(f"/orders/{order_id}")
            assert 'id="timeline-cut"' in one_hop.text


async def test_an_unknown_field_with_a_lone_surrogate_never_fails_the_order_page(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # Review (helper 131): the contract ignores unknown fields, so a record with "\ud800" in
    # one is a valid event; the console stored its bytes, which pydantic's JSON parser
    # refuses, and every render of the order's page failed (500).
    prefix = unique_prefix("console-surrogate")
    order_id, cart_id = str(uuid.uuid4()), f"cart-{uuid.uuid4().hex[:8]}"
    placed = envelope("OrderPlaced", 1, cart_id=cart_id, order_id=order_id)
    written = json.loads(placed.to_bytes())
    written["data"]["gift_note"] = "\ud800"
    written["delivered_by"] = "\udfff"
    async with running_console(orderflow_infrastructure, prefix) as console:
        await publish_raw(
            orderflow_infrastructure.kafka_bootstrap_servers,
            f"{prefix}orders",
            [(order_id.encode(), json.dumps(written).encode())],
        )
        async with console.signed_in("view", "view-secret-2") as viewer:
            page = await _page_once(viewer, f"/orders/{order_id}", "OrderPlaced")
        assert "gift_note" not in page.text


async def test_an_event_stamped_far_ahead_counts_as_read_now_not_then(
    orderflow_infrastructure: Infrastructure,
) -> None:
    # Review (helper 131): an OrderPlaced stamped in 8999 made its order's last event a time
    # that never comes (never stuck, never retained, first in every list) and a stage minute
    # each overview render read; many such minutes, an unbounded read.
    prefix = unique_prefix("console-ahead")
    order_id, cart_id = str(uuid.uuid4()), f"cart-{uuid.uuid4().hex[:8]}"
    placed = envelope("OrderPlaced", cart_id=cart_id, order_id=order_id)
    requested = envelope("CheckoutRequested", cart_id=cart_id)
    far = {"occurred_at": datetime(8999, 12, 31, tzinfo=UTC)}
    ahead = [placed.model_copy(update=far), requested.model_copy(update=far)]
    async with running_console(orderflow_infrastructure, prefix) as console:
        await publish_envelopes(orderflow_infrastructure, prefix, ahead)
        pool = console.runtime.pool
        last = await eventually(
            lambda: pool.fetchval(
                "SELECT last_event_at FROM console.orders WHERE order_id = $1", order_id
            ),
            lambda found: found is not None,
        )
        # An unanswered checkout stamped there was never old enough to be reported.
        asked = await eventually(
            lambda: pool.fetchval(
                "SELECT requested_at FROM console.checkouts WHERE event_id = $1",
                requested.event_id,
            ),
            lambda found: found is not None,
        )
        latest_minute = await pool.fetchval("SELECT max(minute) FROM console.stage_minutes")
    bound = datetime.now(UTC) + timedelta(minutes=6)
    assert last < bound
    assert asked < bound
    assert latest_minute < bound
