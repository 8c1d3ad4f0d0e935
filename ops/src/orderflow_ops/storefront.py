"""A storefront simulator: a steady stream of realistic shoppers, over the public contract only.

Each shopper fills a cart (one to four products), picks a currency, sometimes edits the cart,
and checks out with Visa, MasterCard or PayPal — some below and some above the free-shipping
threshold, some with a card the sandbox declines, some abandoning the cart. Later, some
customers of completed orders return an item or file a warranty claim. Everything is published
exactly as a storefront would: keyed by aggregate id, numbered per cart with ``sequence``, one
correlation id per customer journey.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.outbox import PRODUCER_REQUEST_TIMEOUT_S, start_producer, stop_producer
from orderflow_chassis.topic_reader import stop_consumer
from orderflow_chassis.waiting import stop_task, wait_at_most
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError
from orderflow_contracts.events import (
    CartCurrencySelected,
    CartItemAdded,
    CartItemQuantityChanged,
    CheckoutRequested,
    Event,
    PaymentInput,
    ReturnRequested,
    ShippingAddressInput,
    WarrantyClaimFiled,
)
from orderflow_contracts.events.common import CardSummary, LineQuantity
from orderflow_contracts.topics import ORDERS

from orderflow_ops.ids import simulated_id

log = structlog.get_logger(__name__)

PRODUCER = "storefront"
_FLUSH_AT_STOP_S = 5.0  # then what Kafka did not acknowledge is abandoned
FREE_SHIPPING_ABOVE_USD = Decimal("50.00")


@dataclass(frozen=True)
class Product:
    sku: str
    usd_price: Decimal


@dataclass(frozen=True)
class PaymentTokens:
    """Sandbox tokens the simulator pays with (see the payment service's README)."""

    card_approved: str
    card_declined: str
    paypal_approved: str


@dataclass(frozen=True)
class Destination:
    country: str
    city: str
    postal_code: str
    line1: str
    currency: str


DESTINATIONS: tuple[Destination, ...] = (
    Destination("US", "Portland", "97205", "1200 SW Park Ave", "USD"),
    Destination("US", "Austin", "78701", "500 Congress Ave", "USD"),
    Destination("DE", "Berlin", "10117", "Unter den Linden 1", "EUR"),
    Destination("FR", "Lyon", "69002", "12 Rue de la République", "EUR"),
    Destination("GB", "Leeds", "LS1 4DY", "3 Park Row", "GBP"),
    Destination("CA", "Toronto", "M5H 2N2", "100 Queen St W", "CAD"),
    Destination("AU", "Melbourne", "3000", "200 Collins St", "AUD"),
    Destination("JP", "Osaka", "530-0001", "1-1 Umeda", "JPY"),
)


@dataclass(frozen=True)
class ShopperMix:
    """How shoppers behave, as probabilities per journey."""

    small_cart: float = 0.35  # below the free-shipping threshold
    declined_card: float = 0.08
    paypal: float = 0.25
    abandon: float = 0.05
    edit_quantity: float = 0.2
    returns: float = 0.15  # of completed orders
    warranty_claims: float = 0.05  # of completed orders


@dataclass
class _Order:
    order_id: uuid.UUID
    customer_id: str
    country: str
    lines: list[LineQuantity]


@dataclass
class SimulatorCounts:
    journeys: int = 0
    checkouts: int = 0
    abandoned: int = 0
    returns_requested: int = 0
    warranty_claims: int = 0
    our_carts: set[str] = field(default_factory=set)


class StorefrontSimulator:
    def __init__(
        self,
        bootstrap_servers: str,
        products: Sequence[Product],
        tokens: PaymentTokens,
        *,
        topic_prefix: str = "",
        mix: ShopperMix | None = None,
        seed: int | None = None,
    ) -> None:
        if not products:
            raise ValueError("the simulator needs at least one product")
        self._bootstrap = bootstrap_servers
        self._products = list(products)
        self._tokens = tokens
        self._prefix = topic_prefix
        self._mix = mix or ShopperMix()
        self._random = random.Random(seed)  # noqa: S311 - simulation, not security
        self._producer: AIOKafkaProducer | None = None
        self._orders: dict[str, _Order] = {}
        self.counts = SimulatorCounts()

    async def run(
        self,
        stop: asyncio.Event,
        *,
        shoppers_per_second: float = 2.0,
        max_shoppers: int | None = None,
    ) -> None:
        """Shop until ``stop`` is set (or ``max_shoppers`` journeys were published)."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            enable_idempotence=True,
            acks="all",
            **kafka_client_options(),
        )
        await start_producer(self._producer, timeout_s=PRODUCER_REQUEST_TIMEOUT_S)
        follower = asyncio.create_task(self._follow_completed_orders(stop))
        try:
            while not stop.is_set():
                if max_shoppers is not None and self.counts.journeys >= max_shoppers:
                    break
                await self.shop_once()
                with contextlib.suppress(TimeoutError):
                    await wait_at_most(1 / shoppers_per_second, stop.wait())
            if max_shoppers is not None:
                await stop.wait()  # keep answering completed orders until told to stop
        finally:
            try:
                await stop_task(follower)
            finally:
                await stop_producer(self._producer, flush_s=_FLUSH_AT_STOP_S)

    async def shop_once(self) -> str:
        """One customer journey: a cart, edits, a currency, and (mostly) a checkout."""
        rng = self._random
        cart_id = simulated_id("cart")
        customer_id = simulated_id("cust", 10)
        journey = simulated_id("journey", 12)
        destination = rng.choice(DESTINATIONS)
        events: list[Event] = []
        lines = self._pick_lines(small=rng.random() < self._mix.small_cart)
        events += [CartItemAdded(cart_id=cart_id, sku=sku, quantity=qty) for sku, qty in lines]
        if rng.random() < self._mix.edit_quantity:
            sku, quantity = lines[0]
            events.append(CartItemQuantityChanged(cart_id=cart_id, sku=sku, quantity=quantity + 1))
        events.append(CartCurrencySelected(cart_id=cart_id, currency=destination.currency))
        self.counts.journeys += 1
        self.counts.our_carts.add(cart_id)
        if rng.random() < self._mix.abandon:
            self.counts.abandoned += 1
        else:
            events.append(self._checkout(cart_id, customer_id, destination))
            self.counts.checkouts += 1
        for sequence, event in enumerate(events, start=1):
            await self._publish(event, journey, sequence=sequence)
        return cart_id

    def _pick_lines(self, *, small: bool) -> list[tuple[str, int]]:
        rng = self._random
        affordable = sorted(self._products, key=lambda p: p.usd_price)
        if small:
            product = rng.choice([p for p in affordable if p.usd_price < 25] or affordable[:1])
            return [(product.sku, 1)]
        chosen = rng.sample(self._products, k=min(len(self._products), rng.randint(1, 4)))
        lines = [(product.sku, rng.randint(1, 3)) for product in chosen]
        subtotal = sum(
            (p.usd_price * q for p in chosen for sku, q in lines if sku == p.sku), Decimal(0)
        )
        if subtotal <= FREE_SHIPPING_ABOVE_USD:  # make sure "large" carts ship free in USD
            top = max(chosen, key=lambda p: p.usd_price)
            needed = int((FREE_SHIPPING_ABOVE_USD - subtotal) / top.usd_price) + 2
            lines = [(sku, q + needed if sku == top.sku else q) for sku, q in lines]
        return lines

    def _checkout(
        self, cart_id: str, customer_id: str, destination: Destination
    ) -> CheckoutRequested:
        rng = self._random
        if rng.random() < self._mix.paypal:
            payment = PaymentInput(method="paypal", provider_token=self._tokens.paypal_approved)
        else:
            brand = rng.choice(("visa", "mastercard"))
            declined = rng.random() < self._mix.declined_card
            payment = PaymentInput(
                method=brand,
                provider_token=self._tokens.card_declined
                if declined
                else self._tokens.card_approved,
                card=CardSummary(
                    brand=brand,
                    last4=f"{rng.randint(0, 9999):04d}",
                    expiry_month=9,
                    expiry_year=2030,
                ),
            )
        return CheckoutRequested(
            cart_id=cart_id,
            customer_id=customer_id,
            email=f"{customer_id}@example.com",
            shipping_address=ShippingAddressInput(
                recipient_name="Sam Shopper",
                line1=destination.line1,
                city=destination.city,
                postal_code=destination.postal_code,
                country=destination.country,
            ),
            payment=payment,
        )

    async def _publish(self, event: Event, journey: str, *, sequence: int | None = None) -> None:
        assert self._producer is not None
        envelope = Envelope.wrap(
            event, producer=PRODUCER, correlation_id=journey, sequence=sequence
        )
        await self._producer.send_and_wait(
            self._prefix + type(event).topic,
            envelope.to_bytes(),
            key=envelope.aggregate_id.encode(),
            headers=[("event_type", envelope.event_type.encode())],
        )

    async def _follow_completed_orders(self, stop: asyncio.Event) -> None:
        """Remember our orders; when one completes, maybe return an item or claim warranty."""
        consumer = AIOKafkaConsumer(
            self._prefix + ORDERS,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            **kafka_client_options(),
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        await self._on_order_event(record.value or b"")
        finally:
            with contextlib.suppress(Exception):
                await stop_consumer(consumer)

    async def _on_order_event(self, value: bytes) -> None:
        try:
            envelope = Envelope.from_bytes(value)
            event = envelope.parse_event()
        except ContractError:
            return
        data = envelope.data
        if envelope.event_type == "OrderPlaced" and data.get("cart_id") in self.counts.our_carts:
            self._orders[str(data["order_id"])] = _Order(
                order_id=uuid.UUID(str(data["order_id"])),
                customer_id=str(data["customer_id"]),
                country=str(data["ship_to"]["country"]),
                lines=[
                    LineQuantity(sku=line["sku"], quantity=line["quantity"])
                    for line in data["lines"]
                ],
            )
        elif envelope.event_type == "OrderCompleted":
            order = self._orders.pop(str(event.aggregate_id), None)
            if order is not None:
                await self._after_delivery(order, envelope.correlation_id)

    async def _after_delivery(self, order: _Order, journey: str) -> None:
        roll = self._random.random()
        line = order.lines[0]
        if roll < self._mix.returns:
            self.counts.returns_requested += 1
            await self._publish(
                ReturnRequested(
                    order_id=order.order_id,
                    return_request_id=simulated_id("ret", 12),
                    lines=[LineQuantity(sku=line.sku, quantity=1)],
                    reason="Does not fit",
                    customer_id=order.customer_id,
                ),
                journey,
            )
        elif roll < self._mix.returns + self._mix.warranty_claims:
            self.counts.warranty_claims += 1
            await self._publish(
                WarrantyClaimFiled(
                    order_id=order.order_id,
                    claim_id=simulated_id("claim", 12),
                    sku=line.sku,
                    country_of_usage=order.country,
                    defect_description="The seam came apart after a few weeks",
                    customer_id=order.customer_id,
                ),
                journey,
            )
