"""The storefront's read API: carts priced in their currency, and the catalog.

Routes are thin: each opens a unit of work on the runtime's transactions and calls a query
use case (``handlers.queries``) bound in ``bootstrap``; every read runs in one read-only,
repeatable-read transaction so a cart and the prices it is shown with agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Request
from orderflow_chassis.service_definition import RuntimeResources
from orderflow_chassis.unit_of_work import Transactions
from orderflow_contracts.events import FxSnapshot, RejectionReason
from orderflow_contracts.money import Money
from orderflow_contracts.primitives import IDENTIFIER_PATTERN
from pydantic import BaseModel, Field

from orderflow_cart.domain.cart import CartStatus
from orderflow_cart.domain.pricing import unit_price
from orderflow_cart.handlers.queries import (
    CartEvents,
    CheckedOutCart,
    NotSoldIn,
    OpenCart,
    PricedCatalog,
)
from orderflow_cart.ports import CartRepositories, CartUnit

CartIdPath = Annotated[
    str,
    Path(
        pattern=IDENTIFIER_PATTERN,
        description="The storefront's cart id: 1-128 letters, digits and `_ . : -`.",
        examples=["cart-42"],
    ),
]


class ErrorMessage(BaseModel):
    detail: str = Field(examples=["no cart 'cart-42': no event for it has reached the service"])


class CartLineView(BaseModel):
    sku: str
    quantity: int
    on_sale: bool = Field(description="False when the SKU is not (or no longer) sold.")
    name: str | None = None
    unit_price: Money | None = Field(
        default=None, description="The USD price converted and rounded half-even."
    )
    line_total: Money | None = Field(default=None, description="unit_price x quantity")


class CartView(BaseModel):
    """A cart priced in its currency, as the customer would pay for it now.

    Amounts are null when the cart's currency is not sold (see `problems`). Lines not on sale
    have no price and are left out of the amounts. Once checked out, the amounts are the
    order's, frozen at checkout.
    """

    cart_id: str
    status: CartStatus
    currency: str = Field(description="The selected currency, or the default (USD).")
    lines: list[CartLineView]
    subtotal: Money | None = Field(description="Sum of the line totals.")
    shipping_fee: Money | None = Field(
        description="0 when the subtotal valued in USD is above the free-shipping threshold "
        "(CART_FREE_SHIPPING_ABOVE_USD, 50.00 by default), or the cart is empty."
    )
    free_shipping: bool | None
    free_shipping_missing: Money | None = Field(
        description="How much more the subtotal needs to ship free (0 once free, or when the "
        "currency's fee is 0); null once checked out, when the cart cannot be priced, or when "
        "no amount could reach the threshold."
    )
    total: Money | None = Field(description="subtotal + shipping_fee")
    subtotal_usd: Money | None = Field(
        description="The subtotal valued in USD (subtotal / rate, rounded half-even to cents): "
        "what decides free shipping."
    )
    fx: FxSnapshot | None = Field(description="The rate the cart is priced with.")
    problems: list[RejectionReason] = Field(
        description="What would make a checkout fail because of the cart itself (contents, "
        "currency); address and payment are checked at checkout."
    )
    order_id: UUID | None = None
    last_activity_at: datetime | None = None
    events_waiting: int = Field(
        description="Events received ahead of a missing predecessor, not yet applied."
    )


class UnappliedEventView(BaseModel):
    event_id: UUID
    event_type: str
    sequence: int | None
    reason: str = Field(
        description="cart_checked_out, already_checked_out, order_cancelled, stale_sequence, "
        "duplicate_sequence, cart_full or apply_failed"
    )
    detail: str
    recorded_at: datetime


class SkippedSequencesView(BaseModel):
    first_sequence: int
    last_sequence: int
    skipped_at: datetime


class CartEventsReport(BaseModel):
    """Cart events that were received but not applied, and sequence numbers given up on."""

    cart_id: str
    unapplied: list[UnappliedEventView]
    skipped_sequences: list[SkippedSequencesView]


class CatalogItemView(BaseModel):
    sku: str
    name: str
    price: Money


class CatalogView(BaseModel):
    currency: str
    fx: FxSnapshot
    products: list[CatalogItemView]


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorMessage}}


ViewCart = Callable[[str, CartUnit], Awaitable[OpenCart | CheckedOutCart | None]]
ListCartEvents = Callable[[str, CartUnit], Awaitable[CartEvents | None]]
PriceCatalog = Callable[[str | None, CartUnit], Awaitable[PricedCatalog | NotSoldIn]]
SeedReferenceData = Callable[[Transactions[CartRepositories]], Awaitable[None]]


def cart_api_router(
    *,
    view_cart: ViewCart,
    cart_events: ListCartEvents,
    catalog_in: PriceCatalog,
    seed_reference_data: SeedReferenceData,
) -> APIRouter:
    """The routes, given the query use cases bound in ``bootstrap``."""
    router = APIRouter(tags=["carts"])

    def transactions(request: Request) -> Transactions[CartRepositories]:
        resources: RuntimeResources = request.app.state.resources
        return resources.transactions

    def no_cart(cart_id: str) -> HTTPException:
        return HTTPException(
            status_code=404,
            detail=f"no cart {cart_id!r}: no event for it has reached the cart service",
        )

    @router.get("/carts/{cart_id}", response_model=CartView, responses=_NOT_FOUND)
    async def get_cart(request: Request, cart_id: CartIdPath) -> CartView:
        """The cart priced in its currency: lines, subtotal, shipping fee, the amount missing
        for free shipping, and total."""
        await seed_reference_data(transactions(request))
        # One repeatable-read snapshot: the cart and the prices it is shown with agree.
        async with transactions(request).begin(read_only=True) as uow:
            found = await view_cart(cart_id, uow)
        if found is None:
            raise no_cart(cart_id)
        if isinstance(found, CheckedOutCart):
            return _checked_out_view(found)
        return _open_view(found)

    @router.get(
        "/carts/{cart_id}/unapplied-events", response_model=CartEventsReport, responses=_NOT_FOUND
    )
    async def get_unapplied_events(request: Request, cart_id: CartIdPath) -> CartEventsReport:
        """For ops: events of this cart that were not applied (e.g. edits after checkout) with
        the reason, and sequence numbers that never arrived and were skipped."""
        async with transactions(request).begin(read_only=True) as uow:
            found = await cart_events(cart_id, uow)
        if found is None:
            raise no_cart(cart_id)
        return CartEventsReport(
            cart_id=cart_id,
            unapplied=[UnappliedEventView(**vars(item)) for item in found.unapplied],
            skipped_sequences=[SkippedSequencesView(**vars(item)) for item in found.skipped],
        )

    @router.get(
        "/catalog",
        response_model=CatalogView,
        tags=["catalog"],
        responses={422: {"model": ErrorMessage}},
    )
    async def get_catalog(
        request: Request,
        currency: Annotated[
            str | None,
            Query(
                pattern=r"^[A-Za-z]{3}$",
                description="Price in this currency, in any case (default: USD).",
            ),
        ] = None,
    ) -> CatalogView:
        """The products on sale, priced in a currency the store sells in."""
        await seed_reference_data(transactions(request))
        async with transactions(request).begin(read_only=True) as uow:
            found = await catalog_in(currency.upper() if currency else None, uow)
        if isinstance(found, NotSoldIn):
            raise HTTPException(status_code=422, detail=found.message)
        return CatalogView(
            currency=found.currency,
            fx=found.fx.snapshot(),
            products=[
                CatalogItemView(
                    sku=product.sku, name=product.name, price=unit_price(product, found.fx)
                )
                for product in found.products
            ],
        )

    return router


def _open_view(found: OpenCart) -> CartView:
    cart, products, priced = found.cart, found.products, found.priced
    common: dict[str, Any] = {
        "cart_id": cart.cart_id,
        "status": cart.status,
        "currency": found.currency,
        "problems": found.problems,
        "last_activity_at": cart.last_activity_at,
        "events_waiting": found.events_waiting,
    }
    if found.fx is None or priced is None:
        return CartView(
            **common,
            lines=[
                CartLineView(
                    sku=sku,
                    quantity=quantity,
                    on_sale=sku in products,
                    name=products[sku].name if sku in products else None,
                )
                for sku, quantity in cart.lines.items()
            ],
            subtotal=None,
            shipping_fee=None,
            free_shipping=None,
            free_shipping_missing=None,
            total=None,
            subtotal_usd=None,
            fx=None,
        )
    priced_lines = {line.sku: line for line in priced.lines}
    lines = []
    for sku, quantity in cart.lines.items():
        line = priced_lines.get(sku)
        lines.append(
            CartLineView(sku=sku, quantity=quantity, on_sale=False)
            if line is None
            else CartLineView(
                sku=sku,
                quantity=quantity,
                on_sale=True,
                name=line.name,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
        )
    return CartView(
        **common,
        lines=lines,
        subtotal=priced.subtotal,
        shipping_fee=priced.shipping_fee,
        free_shipping=priced.free_shipping,
        free_shipping_missing=priced.free_shipping_missing,
        total=priced.total,
        subtotal_usd=priced.base_subtotal,
        fx=found.fx.snapshot(),
    )


def _checked_out_view(found: CheckedOutCart) -> CartView:
    cart, order, waiting = found.cart, found.order, found.events_waiting
    shipping_fee = Money.model_validate(order["shipping_fee"])
    return CartView(
        cart_id=cart.cart_id,
        status=cart.status,
        currency=order["currency"],
        lines=[
            CartLineView(
                sku=line["sku"],
                quantity=line["quantity"],
                on_sale=True,
                name=line["name"],
                unit_price=Money.model_validate(line["unit_price"]),
                line_total=Money.model_validate(line["line_total"]),
            )
            for line in order["lines"]
        ],
        subtotal=Money.model_validate(order["subtotal"]),
        shipping_fee=shipping_fee,
        free_shipping=shipping_fee.is_zero,
        free_shipping_missing=None,
        total=Money.model_validate(order["total"]),
        subtotal_usd=Money.model_validate(order["base_subtotal"]),
        fx=FxSnapshot.model_validate(order["fx"]),
        problems=[],
        order_id=cart.order_id,
        last_activity_at=cart.last_activity_at,
        events_waiting=waiting,
    )
