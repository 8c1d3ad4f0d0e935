"""The storefront's order-status API: one order, a cart's order, a customer's orders, and a
live feed of an order's status (server-sent events).

Access: the storefront presents ``Authorization: Bearer <CART_STOREFRONT_API_TOKEN>``; the
service trusts it for every customer, so scoping a customer to their own orders is the
storefront's job (see the cart README). Answers carry the position they reflect and an ETag.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from orderflow_chassis.live_feeds import (
    FeedLimits,
    FeedResponse,
    FeedSlots,
)
from orderflow_chassis.service_definition import RuntimeResources
from orderflow_chassis.unit_of_work import Transactions
from orderflow_contracts.card_data import redact_card_numbers
from orderflow_contracts.primitives import IDENTIFIER_PATTERN, parse_uuid
from pydantic import SecretStr

from orderflow_cart.order_status.adapters.changes import StatusChanges
from orderflow_cart.order_status.entrypoints.models import (
    CustomerOrdersResponse,
    ErrorMessage,
    NoOrderForCart,
    OrderStatusResponse,
    status_json,
    summary_json,
)
from orderflow_cart.order_status.handlers import CustomerOrders
from orderflow_cart.order_status.ports import CheckoutRejection, PageCursor, StoredStatus
from orderflow_cart.ports import CartRepositories, CartUnit

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_bearer = HTTPBearer(auto_error=False, description="CART_STOREFRONT_API_TOKEN")

GetOrder = Callable[[UUID, CartUnit], Awaitable[StoredStatus | None]]
GetCartOrder = Callable[[str, CartUnit], Awaitable[StoredStatus | CheckoutRejection | None]]
ListCustomerOrders = Callable[[str, PageCursor | None, int, CartUnit], Awaitable[CustomerOrders]]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "A malformed id or cursor."},
    401: {"model": ErrorMessage, "description": "No or a wrong bearer token."},
    503: {"model": ErrorMessage, "description": "No token configured: the API is off."},
}


def order_status_router(
    *,
    api_token: SecretStr | None,
    order_status: GetOrder,
    cart_order: GetCartOrder,
    customer_orders: ListCustomerOrders,
    changes: StatusChanges,
    feeds: FeedLimits | None = None,
) -> APIRouter:
    """The routes, given the query use cases bound in ``bootstrap``. A feed sends a comment
    line every ``feeds.keep_alive_s`` so proxies keep it open, and re-reads the status then
    too: a lost notification delays an update by that much at most. An instance serves
    ``feeds.max_open`` feeds at most, each for ``feeds.max_lifetime_s`` at most."""
    limits = feeds or FeedLimits()
    slots = FeedSlots(limits.max_open)

    async def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if api_token is None:
            raise HTTPException(
                503, "the order-status API is off: set CART_STOREFRONT_API_TOKEN to enable it"
            )
        expected = api_token.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials else b""
        if not secrets.compare_digest(given, expected):
            raise HTTPException(
                401,
                "a valid bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    router = APIRouter(tags=["order status"], dependencies=[Depends(authorised)])

    def transactions(request: Request) -> Transactions[CartRepositories]:
        resources: RuntimeResources = request.app.state.resources
        return resources.transactions

    async def read_order(request: Request, order_id: UUID) -> StoredStatus | None:
        async with transactions(request).begin(read_only=True) as uow:
            return await order_status(order_id, uow)

    @router.get(
        "/orders/{order_id}",
        response_model=OrderStatusResponse,
        responses={
            **_ERRORS,
            304: {"description": "Unchanged since the ETag given"},
            404: {"model": ErrorMessage},
        },
    )
    async def get_order(request: Request, order_id: str) -> Response:
        """Everything that happened to the order: state, lines, amounts, payment (brand and
        last four digits at most), shipments with tracking, return window and warranty ends,
        returns, refunds and warranty claims, and the position it reflects."""
        found = await read_order(request, _order_id(order_id))
        if found is None:
            raise HTTPException(404, f"no order {order_id}: no event of it has reached the service")
        return _conditional(request, status_json(found), _order_etag(found))

    @router.get(
        "/carts/{cart_id}/order",
        response_model=OrderStatusResponse,
        responses={
            **_ERRORS,
            304: {"description": "Unchanged since the ETag given"},
            404: {"model": NoOrderForCart},
        },
    )
    async def get_cart_order(request: Request, cart_id: str) -> Response:
        """The order the cart became (the storefront knows its cart id first); 404 while there
        is none, with the reasons when its checkout was rejected."""
        _identifier("cart", cart_id)
        async with transactions(request).begin(read_only=True) as uow:
            found = await cart_order(cart_id, uow)
        if isinstance(found, StoredStatus):
            return _conditional(request, status_json(found), _order_etag(found))
        shown = redact_card_numbers(cart_id)  # as every error answer (the chassis' handler)
        body = NoOrderForCart(detail=f"cart {shown!r} has no order yet", checkout_rejection=None)
        if found is not None:
            body = NoOrderForCart.model_validate(
                {
                    "detail": f"cart {shown!r} has no order: its checkout was rejected",
                    "checkout_rejection": {
                        "reasons": found.reasons,
                        "rejected_at": found.rejected_at,
                        "checkout_event_id": found.checkout_event_id,
                    },
                }
            )
        return JSONResponse(body.model_dump(mode="json"), status_code=404)

    @router.get(
        "/customers/{customer_id}/orders",
        response_model=CustomerOrdersResponse,
        responses={**_ERRORS, 304: {"description": "Unchanged since the ETag given"}},
    )
    async def get_customer_orders(
        request: Request,
        customer_id: str,
        limit: Annotated[int, Query(ge=1, le=100, description="Orders per page.")] = 20,
        cursor: Annotated[
            str | None, Query(description="`next_cursor` of the previous page.")
        ] = None,
    ) -> Response:
        """The customer's orders, newest first, a page at a time; none yet is an empty page (the
        customer id is the storefront's: the storefront must only ask for its signed-in
        customer's)."""
        _identifier("customer", customer_id)
        after = _decode_cursor(cursor) if cursor else None
        async with transactions(request).begin(read_only=True) as uow:
            page = await customer_orders(customer_id, after, limit, uow)
        body = {
            "customer_id": customer_id,
            "orders": [summary_json(stored) for stored in page.orders],
            "next_cursor": _encode_cursor(page.next_page) if page.next_page else None,
        }
        # The page's orders and versions, where it starts and where the next one does (an
        # older order applied late adds a next page to an unchanged one), and its size.
        tag = hashlib.sha256(
            "|".join(f"{s.order_id}.{s.position.version}" for s in page.orders).encode()
            + f"|{cursor or ''}|{body['next_cursor'] or ''}|{limit}".encode()
        ).hexdigest()[:32]
        return _conditional(request, body, f'"{tag}"')

    @router.get(
        "/orders/{order_id}/events",
        response_class=StreamingResponse,
        responses={
            **_ERRORS,
            200: {
                "content": {"text/event-stream": {}},
                "description": "`event: status` messages, `id:` the version, `data:` the same "
                "JSON as GET /orders/{order_id}; a comment line every 15 s keeps it open. The "
                "server ends the stream after a while (15 minutes by default): reconnect with "
                "Last-Event-ID.",
            },
            404: {"model": ErrorMessage},
            503: {
                "model": ErrorMessage,
                "description": "No token configured: the API is off; or, with `Retry-After`, "
                "this instance serves as many feeds as it may.",
            },
        },
    )
    async def follow_order(request: Request, order_id: str) -> StreamingResponse:
        """A live feed of the order's status (server-sent events): the current status at once
        (unless `Last-Event-ID` is its version already), then each change within a second of
        it being applied, by whichever instance of the service applied it. The server ends
        the feed after a while; reconnecting with `Last-Event-ID` resumes it."""
        wanted = _order_id(order_id)
        if not slots.take():
            raise slots.full(
                "live feeds", or_else=f"or poll GET /orders/{order_id} with If-None-Match"
            )
        try:
            if await read_order(request, wanted) is None:
                raise HTTPException(
                    404, f"no order {order_id}: no event of it has reached the service"
                )
        except BaseException:
            slots.give_back()
            raise
        resources: RuntimeResources = request.app.state.resources
        last_sent = _last_event_id(request)
        clock = asyncio.get_running_loop().time
        ends_at = clock() + limits.lifetime_s()

        async def feed() -> AsyncIterator[str]:
            sent = last_sent
            # Listen first, then read: a change committed in between is never missed.
            async with changes.watch(resources.settings.database_url, wanted) as signal:
                while not signal.closed:
                    await changes.ensure_listening(resources.settings.database_url)
                    current = await read_order(request, wanted)
                    # Versions only grow: another one is newer, unless the client's
                    # Last-Event-ID was never this order's (then it gets the status now).
                    if current is not None and current.position.version != sent:
                        sent = current.position.version
                        yield _sse(sent, status_json(current))
                    left_s = ends_at - clock()
                    if left_s <= 0:
                        return  # the client reconnects, with Last-Event-ID: the version sent
                    changed = await signal.wait(min(limits.keep_alive_s, left_s))
                    if not changed and not signal.closed and clock() < ends_at:
                        yield ": keep-alive\n\n"

        return FeedResponse(feed(), release=slots.give_back)

    return router


def _sse(version: int, body: dict[str, Any]) -> str:
    data = json.dumps(body, separators=(",", ":"))
    return f"id: {version}\nevent: status\ndata: {data}\n\n"


def _order_etag(stored: StoredStatus) -> str:
    return f'"{stored.order_id}.{stored.position.version}"'


def _conditional(request: Request, body: dict[str, Any], etag: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    given = request.headers.get("if-none-match")
    if given is not None:
        tags = {tag.strip().removeprefix("W/") for tag in given.split(",")}
        if etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


# The refusals never echo what was given: an invisible character between its digits hides a
# card number from the redaction of error answers once repr() has spelled it out.


def _order_id(text: str) -> UUID:
    order_id = parse_uuid(text)
    if order_id is None:
        raise HTTPException(
            400, "the order id is not a UUID (32 hex digits in the 8-4-4-4-12 hyphenated form)"
        )
    return order_id


def _identifier(kind: str, text: str) -> None:
    if not _IDENTIFIER.fullmatch(text):
        raise HTTPException(400, f"the {kind} id is not 1-128 letters, digits and `_ . : -`")


def _last_event_id(request: Request) -> int:
    text = request.headers.get("last-event-id", "")
    # ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 19 else 0


def _encode_cursor(cursor: PageCursor) -> str:
    raw = f"{cursor.placed_at.isoformat()}|{cursor.order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_MAX_CURSOR_LENGTH = 200


def _decode_cursor(text: str) -> PageCursor:
    try:
        if len(text) > _MAX_CURSOR_LENGTH:  # what _encode_cursor makes is about 90
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        placed_at, order_id = raw.split("|")
        moment = datetime.fromisoformat(placed_at)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        moment.astimezone(UTC)  # as the database will: 0001-01-01T00:00+14:00 overflows
        return PageCursor(placed_at=moment, order_id=UUID(order_id))
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        raise HTTPException(
            400, "cursor is malformed: pass a next_cursor as it was given"
        ) from None
