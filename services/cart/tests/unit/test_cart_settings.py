"""The cart's own settings: a blank storefront token is no token; the order-status read model
gathers its batches."""

from __future__ import annotations

import pytest
from orderflow_cart.bootstrap import build_definition
from orderflow_cart.settings import CartSettings
from orderflow_chassis.consumer import Gather, Subscription
from orderflow_chassis.settings import ServiceSettings


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_storefront_token_leaves_the_order_status_api_off(
    blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty token once matched a request without Authorization: the API was open.
    monkeypatch.setenv("CART_STOREFRONT_API_TOKEN", blank)
    assert CartSettings().storefront_api_token is None


def test_a_storefront_token_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CART_STOREFRONT_API_TOKEN", "s3cret-token")
    token = CartSettings().storefront_api_token
    assert token is not None
    assert token.get_secret_value() == "s3cret-token"


def order_status_subscription(cart_settings: CartSettings) -> Subscription:
    settings = ServiceSettings.for_service(
        "cart", database_url="postgresql://cart:cart@localhost:5432/orderflow"
    )
    definition = build_definition(settings, cart_settings=cart_settings)
    [found] = [s for s in definition.subscriptions if s.name == "order-status"]
    return found


def test_the_consumers_no_saga_step_waits_on_gather_their_batches_and_the_storefronts_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert order_status_subscription(CartSettings()).gather == Gather(wait_ms=300)
    settings = ServiceSettings.for_service(
        "cart", database_url="postgresql://cart:cart@localhost:5432/orderflow"
    )
    gathers = {
        s.name: s.gather
        for s in build_definition(settings, cart_settings=CartSettings()).subscriptions
    }
    assert gathers == {
        "events": None,  # the storefront's checkouts: the first step of every order
        "order-outcomes": Gather(wait_ms=300, max_records=200),
        "order-status": Gather(wait_ms=300),
    }
    monkeypatch.setenv("CART_ORDER_STATUS_GATHER_MS", "0")
    monkeypatch.setenv("CART_ORDER_OUTCOMES_GATHER_MS", "0")
    off = build_definition(settings, cart_settings=CartSettings()).subscriptions
    assert [s.gather for s in off] == [None, None, None]


@pytest.mark.parametrize("too_short", ["1", "99"])
def test_a_gather_too_short_to_pause_is_refused_at_start(
    too_short: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CART_ORDER_STATUS_GATHER_MS", too_short)
    with pytest.raises(ValueError, match="at least 100 ms"):
        CartSettings()


def test_a_free_shipping_threshold_must_be_whole_cents(monkeypatch: pytest.MonkeyPatch) -> None:
    # 49.999 was accepted, then every cart read and checkout failed on pricing.
    monkeypatch.setenv("CART_FREE_SHIPPING_ABOVE_USD", "49.999")
    with pytest.raises(ValueError, match="whole cents of USD"):
        CartSettings()
    monkeypatch.setenv("CART_FREE_SHIPPING_ABOVE_USD", "1e30")  # too many digits to quantize
    with pytest.raises(ValueError, match="whole cents of USD"):
        CartSettings()
    monkeypatch.setenv("CART_FREE_SHIPPING_ABOVE_USD", "75.5")
    assert str(CartSettings().free_shipping_above_usd) == "75.5"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # Each started, then lost checkouts: OrderPlaced refuses a negative fee; pricing could
        # not hold the threshold as USD money; no fee for the default currency refused every
        # cart that never selected one.
        ("CART_SHIPPING_FEES", "USD=-4.95", "cannot be negative"),
        ("CART_FREE_SHIPPING_ABOVE_USD", "1000000000000000", "at most 15 digits"),
        ("CART_DEFAULT_CURRENCY", "CHF", "CART_DEFAULT_CURRENCY CHF has no shipping fee"),
    ],
)
def test_settings_every_checkout_would_fail_on_are_refused_at_start(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        CartSettings()


def test_a_free_fee_and_a_default_currency_with_a_fee_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CART_SHIPPING_FEES", "USD=0,CHF=5.00")
    monkeypatch.setenv("CART_DEFAULT_CURRENCY", "chf")
    assert CartSettings().default_currency == "CHF"
