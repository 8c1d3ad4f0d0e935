"""The cart's own settings: a blank storefront token is no token."""

from __future__ import annotations

import pytest
from orderflow_cart.settings import CartSettings


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
