"""Order status for storefronts, on real Kafka and PostgreSQL: the cart service in-process
reads the other services' events (published here as they would publish them) and serves the
status over HTTP and as a live feed (SSE).

Each journey publishes one event at a time and waits for the feed to show its effect before
the next, so the feed's messages are deterministic; the shuffled test publishes everything at
once, across topics, in a random order.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from orderflow_cart.order_status.domain.facts import apply
from orderflow_cart.order_status.domain.order_facts import OrderFacts
from orderflow_cart.order_status.domain.view import order_view
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event
from orderflow_contracts.money import Money

from services.cart.tests.integration.conftest import RunningCart
from services.cart.tests.integration.order_status_client import (
    API_TOKEN,
    AUTH,
    StatusFeed,
    collapsed,
    order_when,
)
from services.cart.tests.integration.storefront import add, checkout, new_cart_id
from services.cart.tests.order_events import OrderJourney, envelopes
from tests.support.kafka_tools import eventually
from tests.support.service_harness import publish_envelopes

pytestmark = pytest.mark.integration

CART_OVERRIDES = {"storefront_api_token": API_TOKEN}


async def publish(cart: RunningCart, *applied: Envelope) -> None:
    await publish_envelopes(cart.infrastructure, cart.prefix, list(applied))


async def journey_through_feed(
    cart: RunningCart, journey: OrderJourney, events: list[Event]
) -> tuple[StatusFeed, list[Envelope]]:
    """Publish the first event, open the feed, then each next event once the feed showed the
    previous one applied (its version). Returns the open feed's messages and the envelopes."""
    applied = envelopes(events)
    await publish(cart, applied[0])
    await order_when(cart.http, f"/orders/{journey.order_id}", lambda body: True)
    feed = StatusFeed(cart.http, journey.order_id)
    async with feed:
        for version, envelope in enumerate(applied[1:], start=2):
            await publish(cart, envelope)
            await feed.wait_for(lambda m, v=version: m["position"]["version"] == v)  # type: ignore[misc]
    return feed, applied


async def final(cart: RunningCart, journey: OrderJourney) -> dict[str, Any]:
    response = await cart.http.get(f"/orders/{journey.order_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_happy_path_is_served_and_pushed_step_by_step(cart_service: RunningCart) -> None:
    journey = OrderJourney("happy")
    feed, applied = await journey_through_feed(cart_service, journey, journey.happy_path())

    assert feed.ids == list(range(1, len(applied) + 1))  # every version, once, in order
    assert collapsed(feed.states) == ["placed", "paid", "shipped", "delivered", "completed"]
    body = await final(cart_service, journey)
    assert body == feed.messages[-1]
    assert body["position"]["last_event_id"] == str(applied[-1].event_id)
    assert body["position"]["last_event_type"] == "OrderCompleted"
    assert body["amounts"]["captured"] == {"amount": "50.69", "currency": "EUR"}
    (shipment,) = body["shipments"]
    assert (shipment["carrier"], shipment["tracking_number"]) == ("DHL", "JD01460000380")
    assert body["return_window_ends_on"] == "2026-04-03"
    assert [line["warranty_ends_on"] for line in body["lines"]] == ["2028-03-04"] * 2
    assert body["payment"] == {
        "method": "visa",
        "card_brand": "visa",
        "card_last4": "4242",
        "status": "captured",
        "declined": None,
    }

    # The cart's id leads to the same order; polling with the ETag costs a 304.
    by_cart = await cart_service.http.get(f"/carts/{journey.cart_id}/order", headers=AUTH)
    assert by_cart.json() == body
    etag = by_cart.headers["etag"]
    again = await cart_service.http.get(
        f"/orders/{journey.order_id}", headers={**AUTH, "If-None-Match": etag}
    )
    assert (again.status_code, again.content) == (304, b"")


async def test_a_split_shipment_is_partially_shipped_then_completed(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("split")
    feed, _ = await journey_through_feed(cart_service, journey, journey.split_shipment())

    assert collapsed(feed.states) == [
        "placed",
        "paid",
        "partially_shipped",
        "shipped",
        "delivered",
        "completed",
    ]
    body = await final(cart_service, journey)
    assert sorted(s["tracking_number"] for s in body["shipments"]) == [
        "JD01460000380",
        "JD01460000381",
    ]
    assert {s["warehouse_id"] for s in body["shipments"]} == {"wh-berlin", "wh-hamburg"}


async def test_a_partial_return_with_its_refund(cart_service: RunningCart) -> None:
    journey = OrderJourney("return")
    events = [
        *journey.happy_path(),
        journey.return_authorized("return-req-1"),
        journey.refund_requested(),
        journey.refund_issued(),
    ]
    feed, _ = await journey_through_feed(cart_service, journey, events)

    assert collapsed(feed.states)[-2:] == ["completed", "partially_refunded"]
    rma_statuses = [[r["status"] for r in m["returns"]] for m in feed.messages[-3:]]
    assert rma_statuses == [["authorized"], ["refund_requested"], ["refunded"]]
    body = await final(cart_service, journey)
    assert body["amounts"]["refunded"] == {"amount": "9.19", "currency": "EUR"}
    assert body["returns"][0]["return_request_id"] == "return-req-1"
    assert [line["returned"] for line in body["lines"]] == [1, 0]
    assert [r["status"] for r in body["refunds"]] == ["issued"]


async def test_a_warranty_replacement_ships_without_reopening_the_order(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("warranty")
    events = [
        *journey.happy_path(),
        journey.claim_accepted(),
        journey.replacement_requested(),
        *journey.replacement_shipment(),
    ]
    feed, _ = await journey_through_feed(cart_service, journey, events)

    assert collapsed(feed.states)[-1] == "completed"
    replacement_status = [
        [s["status"] for s in m["shipments"] if s["replacement"]] for m in feed.messages[-3:]
    ]
    assert replacement_status == [["requested"], ["dispatched"], ["delivered"]]
    body = await final(cart_service, journey)
    (claim,) = body["warranty_claims"]
    assert claim["status"] == "accepted"
    assert claim["replacement_shipment_id"] == str(journey.replacement_shipment_id)


async def cancelled_by(
    cart_service: RunningCart, label: str, cause: Callable[[OrderJourney], Event]
) -> tuple[list[str], dict[str, Any]]:
    """Check a cart out, publish ``cause`` for its order, and follow the order's feed until it
    is cancelled: the states the feed went through, and the cancelled status."""
    cart_id = new_cart_id(label)
    await cart_service.storefront.send(add(cart_id, "NS-ADJ-L"), checkout(cart_id))
    placed = await order_when(cart_service.http, f"/carts/{cart_id}/order", lambda body: True)
    journey = OrderJourney(label, order_id=uuid.UUID(placed["order_id"]))
    event = cause(journey)
    if "amount" in type(event).model_fields:  # in the order's own money, as payment sends it
        total = Money.model_validate(placed["amounts"]["total"])
        event = event.model_copy(update={"amount": total})
    async with StatusFeed(cart_service.http, journey.order_id) as feed:
        await publish(cart_service, *envelopes([event]))
        cancelled = await feed.wait_for_state("cancelled")
    return collapsed(feed.states), cancelled


async def test_a_declined_payment_cancels_the_order_the_cart_placed(
    cart_service: RunningCart,
) -> None:
    # The cart service itself answers the decline with OrderCancelled (its saga role).
    states, cancelled = await cancelled_by(cart_service, "declined", OrderJourney.declined)

    assert states == ["placed", "cancelled"]
    assert cancelled["cancellation"]["code"] == "payment_declined"
    assert cancelled["payment"]["status"] == "declined"
    assert cancelled["payment"]["declined"]["code"] == "insufficient_funds"
    assert "tok_visa_approve" not in str(cancelled)
    assert cancelled["customer_id"] == "cust-7"


async def test_out_of_stock_cancels_the_order_and_names_the_lines(
    cart_service: RunningCart,
) -> None:
    states, cancelled = await cancelled_by(cart_service, "stockout", OrderJourney.unavailable)

    assert states == ["placed", "cancelled"]
    assert cancelled["cancellation"]["code"] == "stock_unavailable"
    assert cancelled["out_of_stock"] == [{"sku": "NS-ADJ-L", "quantity": 1}]


async def test_a_rejected_checkout_is_told_by_the_carts_order_route(
    cart_service: RunningCart,
) -> None:
    cart_id = new_cart_id("refused")
    sent = await cart_service.storefront.send(
        add(cart_id, "NS-ADJ-L"), checkout(cart_id, address=None)
    )

    async def answer() -> dict[str, Any]:
        response = await cart_service.http.get(f"/carts/{cart_id}/order", headers=AUTH)
        assert response.status_code == 404, response.text
        body: dict[str, Any] = response.json()
        return body

    refused = await eventually(answer, lambda body: body["checkout_rejection"] is not None)
    assert refused["detail"] == f"cart {cart_id!r} has no order: its checkout was rejected"
    codes = [reason["code"] for reason in refused["checkout_rejection"]["reasons"]]
    assert codes == ["missing_shipping_address"]
    # Which checkout it answers: a storefront that sent another since can tell (it could not).
    assert refused["checkout_rejection"]["checkout_event_id"] == str(sent[-1].event_id)


async def test_events_read_in_shuffled_cross_topic_order_give_the_status_of_the_journey(
    cart_service: RunningCart,
) -> None:
    journey = OrderJourney("shuffled")
    applied = envelopes(journey.everything())
    shuffled = random.Random(1414).sample(applied, len(applied))
    assert shuffled[0].event_type != "OrderPlaced"  # facts arrive before their order
    await publish(cart_service, *shuffled)

    body = await order_when(
        cart_service.http,
        f"/orders/{journey.order_id}",
        lambda found: found["position"]["version"] == len(applied),
    )
    facts = OrderFacts(order_id=journey.order_id)
    for envelope in applied:  # in the order they happened
        facts = apply(
            facts,
            envelope.parse_event(),
            occurred_at=envelope.occurred_at,
            event_id=envelope.event_id,
        )
    expected = order_view(facts).model_dump(mode="json")
    body.pop("position")
    assert body == expected
    assert body["state"] == "partially_refunded"


async def test_the_api_wants_its_token_and_says_what_is_wrong_with_a_request(
    cart_service: RunningCart,
) -> None:
    http = cart_service.http
    unknown = uuid.uuid4()
    assert (await http.get(f"/orders/{unknown}")).status_code == 401
    wrong = await http.get(f"/orders/{unknown}", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.headers["www-authenticate"]) == (401, "Bearer")

    missing = await http.get(f"/orders/{unknown}", headers=AUTH)
    assert missing.status_code == 404
    assert str(unknown) in missing.json()["detail"]
    assert (await http.get(f"/orders/{unknown}/events", headers=AUTH)).status_code == 404
    malformed = await http.get("/orders/not-a-uuid", headers=AUTH)
    assert (malformed.status_code, malformed.json()["detail"]) == (
        400,
        "the order id is not a UUID (32 hex digits in the 8-4-4-4-12 hyphenated form)",
    )
    # UUID() reads a sign, braces or no hyphens too: other ids than the one given.
    for spelled in ("+" + unknown.hex[1:], "{" + str(unknown) + "}", unknown.hex):
        assert (await http.get(f"/orders/{spelled}", headers=AUTH)).status_code == 400
    upper = await http.get(f"/orders/{str(unknown).upper()}", headers=AUTH)
    assert upper.status_code == 404, "a UUID in upper case is the same order"
    # repr() spelled an invisible character out, and the digits around it then escaped the
    # error answers' redaction: the refusal no longer echoes what it was given. (A 13-digit
    # Visa glued to a letter reaches the route; 16 digits so are refused by the guard, 422.)
    hidden = await http.get("/orders/x4222%E2%80%8B222222222", headers=AUTH)
    assert hidden.status_code == 400
    assert "2222" not in hidden.text
    bad_cart = await http.get("/carts/x4222%C2%AD222222222/order", headers=AUTH)
    assert bad_cart.status_code == 400
    assert "2222" not in bad_cart.text
    glued = await http.get("/carts/x4111%C2%AD111111111111/order", headers=AUTH)
    assert glued.status_code == 422
    assert "1111" not in glued.text
    assert (await http.get("/carts/bad cart/order", headers=AUTH)).status_code == 400
    nobody = await http.get("/customers/nobody-here/orders", headers=AUTH)
    assert (nobody.status_code, nobody.json()["orders"], nobody.json()["next_cursor"]) == (
        200,
        [],
        None,
    )
    for cursor in ("not-a-cursor", "A" * 201):
        bad_cursor = await http.get(f"/customers/c-1/orders?cursor={cursor}", headers=AUTH)
        assert (bad_cursor.status_code, bad_cursor.json()["detail"]) == (
            400,
            "cursor is malformed: pass a next_cursor as it was given",
        )
    too_many = await http.get("/customers/c-1/orders?limit=101", headers=AUTH)
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_the_routes_are_documented_in_openapi_with_their_token(
    cart_service: RunningCart,
) -> None:
    document = (await cart_service.http.get("/openapi.json")).json()
    routes = {
        "/orders/{order_id}",
        "/carts/{cart_id}/order",
        "/customers/{customer_id}/orders",
        "/orders/{order_id}/events",
    }
    assert routes <= set(document["paths"])
    for route in routes:
        operation = document["paths"][route]["get"]
        assert operation["security"] == [{"HTTPBearer": []}], route
        assert {"400", "401"} <= set(operation["responses"]), route
        # A customer with no order yet has an empty list, not a 404.
        found = "404" in operation["responses"]
        assert found is (route != "/customers/{customer_id}/orders"), route
    status = document["components"]["schemas"]["OrderStatusResponse"]
    assert {"state", "position", "return_window_ends_on", "shipments"} <= set(status["properties"])
    assert (
        "text/event-stream"
        in document["paths"]["/orders/{order_id}/events"]["get"]["responses"]["200"]["content"]
    )


async def test_a_customers_orders_are_listed_newest_first_a_page_at_a_time(
    cart_service: RunningCart,
) -> None:
    customer = f"customer-{uuid.uuid4().hex[:10]}"
    journeys = [OrderJourney(f"mine{n}") for n in range(3)]
    for n, journey in enumerate(journeys):
        (placed,) = envelopes([journey.placed(customer_id=customer)])
        placed = Envelope.wrap(
            placed.parse_event(),
            producer="cart",
            correlation_id="mine",
            occurred_at=placed.occurred_at.replace(day=1 + n),
        )
        await publish(cart_service, placed)

    first = await order_when(
        cart_service.http,
        f"/customers/{customer}/orders?limit=2",
        lambda body: body["next_cursor"] is not None,
    )
    rest = await cart_service.http.get(
        f"/customers/{customer}/orders",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=AUTH,
    )
    listed = [o["order_id"] for o in first["orders"] + rest.json()["orders"]]
    assert listed == [str(j.order_id) for j in reversed(journeys)]
    assert rest.json()["next_cursor"] is None


async def test_a_page_whose_next_page_appears_is_not_unchanged(cart_service: RunningCart) -> None:
    # An older order applied late adds a next page to a page whose orders stay the same: its
    # ETag ignored that, so a storefront polling with If-None-Match never paged to the order.
    customer = f"customer-{uuid.uuid4().hex[:10]}"
    newer, older = OrderJourney("newer"), OrderJourney("older")

    async def place(journey: OrderJourney, day: int) -> None:
        (placed,) = envelopes([journey.placed(customer_id=customer)])
        when = placed.occurred_at.replace(day=day)
        await publish(
            cart_service,
            Envelope.wrap(
                placed.parse_event(), producer="cart", correlation_id="p", occurred_at=when
            ),
        )

    page = f"/customers/{customer}/orders?limit=1"
    await place(newer, 2)
    await order_when(cart_service.http, page, lambda body: len(body["orders"]) == 1)
    alone = await cart_service.http.get(page, headers=AUTH)
    assert alone.json()["next_cursor"] is None
    await place(older, 1)
    await order_when(cart_service.http, f"/orders/{older.order_id}", lambda body: True)

    again = await cart_service.http.get(
        page, headers={**AUTH, "If-None-Match": alone.headers["etag"]}
    )
    assert again.status_code == 200, again.status_code
    assert [o["order_id"] for o in again.json()["orders"]] == [str(newer.order_id)]
    assert again.json()["next_cursor"] is not None


async def test_the_carts_order_route_never_echoes_a_card_number(cart_service: RunningCart) -> None:
    # The route built its own 404, past the chassis' redaction of error answers. A 13-digit
    # Visa glued to a letter reaches it (16 digits or more glued so are refused with 422).
    answer = await cart_service.http.get("/carts/x4222222222222/order", headers=AUTH)
    assert answer.status_code == 404
    assert "4222222222222" not in answer.text
    assert "REDACTED" in answer.json()["detail"]
