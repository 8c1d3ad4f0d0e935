from decimal import Decimal
from typing import Any

import pytest
from orderflow_contracts.events import CartItemAdded, CheckoutRequested, Event
from orderflow_ops.storefront import (
    PaymentTokens,
    Product,
    ShopperMix,
    StorefrontSimulator,
)

PRODUCTS = [
    Product("TOE-SEP-GEL", Decimal("9.90")),
    Product("MB-SPIKY-8CM", Decimal("14.50")),
    Product("NIGHT-SPLINT", Decimal("39.00")),
    Product("INSOLE-ARCH", Decimal("29.95")),
]
TOKENS = PaymentTokens("tok_ok", "tok_declined", "pp_ok")


class RecordingSimulator(StorefrontSimulator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("unused:9092", PRODUCTS, TOKENS, **kwargs)
        self.published: list[tuple[Event, int | None]] = []

    async def _publish(self, event: Event, journey: str, *, sequence: int | None = None) -> None:
        self.published.append((event, sequence))


def _usd_subtotal(events: list[tuple[Event, int | None]]) -> Decimal:
    prices = {p.sku: p.usd_price for p in PRODUCTS}
    quantities: dict[str, int] = {}
    for event, _ in events:
        if isinstance(event, CartItemAdded):
            quantities[event.sku] = event.quantity
    return sum((prices[sku] * q for sku, q in quantities.items()), Decimal(0))


@pytest.mark.parametrize(("small", "below"), [(1.0, True), (0.0, False)])
async def test_shoppers_land_on_the_intended_side_of_the_free_shipping_threshold(
    small: float, below: bool
) -> None:
    for seed in range(20):
        simulator = RecordingSimulator(
            mix=ShopperMix(small_cart=small, abandon=0.0, edit_quantity=0.0), seed=seed
        )
        await simulator.shop_once()
        assert (_usd_subtotal(simulator.published) < Decimal("50")) is below


async def test_a_journey_is_numbered_per_cart_and_ends_with_a_checkout() -> None:
    simulator = RecordingSimulator(mix=ShopperMix(abandon=0.0), seed=7)
    cart_id = await simulator.shop_once()

    sequences = [sequence for _, sequence in simulator.published]
    assert sequences == list(range(1, len(sequences) + 1))
    checkout = simulator.published[-1][0]
    assert isinstance(checkout, CheckoutRequested)
    assert checkout.cart_id == cart_id
    assert checkout.payment.provider_token in {"tok_ok", "tok_declined", "pp_ok"}
