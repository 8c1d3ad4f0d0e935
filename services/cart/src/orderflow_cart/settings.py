"""Settings of the cart service (environment variables with the ``CART_`` prefix).

The shared ones (database, Kafka, HTTP, consumer, relay) are the chassis's ``ServiceSettings``;
these are the cart's own rules. Every default is documented in the README.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from orderflow_chassis.subscriptions import Gather
from orderflow_contracts.countries import is_iso_country
from orderflow_contracts.money import Currency, Money
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderflow_cart.domain.checkout import CartLimits, CheckoutRules
from orderflow_cart.domain.pricing import DEFAULT_FLAT_FEES, ShippingPolicy

WORLDWIDE = "*"


class CartSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CART_", extra="ignore", case_sensitive=False)

    default_currency: str = Field(
        default="USD", description="currency of a cart whose customer never selected one"
    )
    shipping_fees: str = Field(
        default=",".join(f"{code}={fee}" for code, fee in DEFAULT_FLAT_FEES.items()),
        description="flat shipping fee per currency, CODE=amount,...; these are the currencies "
        "the store sells in (each also needs a rate)",
    )
    free_shipping_above_usd: Decimal = Field(
        default=Decimal("50.00"),
        gt=0,
        description="shipping is free when the subtotal valued in USD is above this",
    )
    shipping_countries: str = Field(
        default=WORLDWIDE,
        description="ISO 3166-1 alpha-2 codes the store ships to, comma-separated; * = worldwide",
    )
    max_line_quantity: int = Field(
        default=20, ge=1, le=10_000, description="units of one SKU an order may hold"
    )
    max_lines: int = Field(default=50, ge=1, description="different SKUs an order may hold")
    sequence_gap_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="how long a missing storefront sequence number is waited for",
    )
    gap_sweep_interval_s: float = Field(default=5.0, gt=0)
    abandon_after_s: float = Field(
        default=86_400.0, gt=0, description="idle time after which a cart is reported abandoned"
    )
    abandon_sweep_interval_s: float = Field(default=60.0, gt=0)
    catalog_seed_file: Path | None = Field(
        default=None, description="catalog loaded when the catalog is empty (default: packaged)"
    )
    rates_seed_file: Path | None = Field(
        default=None, description="rates loaded when there are none (default: packaged)"
    )

    storefront_api_token: SecretStr | None = Field(
        default=None,
        description="bearer token the storefront presents to the order-status API "
        "(/orders, /carts/{id}/order, /customers/{id}/orders); unset, that API answers 503",
    )

    order_feed_keep_alive_s: float = Field(
        default=15.0,
        gt=0,
        description="how often an idle order-status feed (SSE) sends a keep-alive comment and "
        "re-reads the status",
    )
    order_feed_max_open: int = Field(
        default=500,  # under CART_HTTP_MAX_CONNECTIONS (1000): room for every other request
        ge=1,
        description="order-status feeds one instance serves at once (each re-reads from the "
        "shared database pool); one more is refused with HTTP 503 and Retry-After",
    )
    order_feed_max_lifetime_s: float = Field(
        default=900.0,
        gt=0,
        description="the server ends an order-status feed after this long (between 90 and 100 "
        "% of it, so feeds opened together do not all reconnect together); the client "
        "reconnects with Last-Event-ID, possibly to another instance",
    )

    order_status_gather_ms: int = Field(
        default=300,
        ge=0,
        le=5000,
        description="the order-status read model gathers each batch this long (up to 400 "
        "events), idle or busy: each order's status is rewritten fewer times, and shows that "
        "much later; 0 batches it as the saga's consumers do, else at least 100",
    )

    order_outcomes_gather_ms: int = Field(
        default=300,
        ge=0,
        le=5000,
        description="the consumer of saga failures (payments, fulfillment: OrderCancelled on a "
        "decline, a shortage or an expiry) gathers each batch this long (up to 200 events), "
        "idle or busy: it passes over almost everything it reads, and no step waits on it but a "
        "cancellation's, which is announced that much later; 0 batches it as the saga's "
        "consumers do, else at least 100",
    )

    @field_validator("order_status_gather_ms", "order_outcomes_gather_ms")
    @classmethod
    def _gather_long_enough(cls, value: int) -> int:
        return Gather.checked_setting(value)

    @field_validator("storefront_api_token")
    @classmethod
    def _blank_token_is_no_token(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty or blank variable must not become a token that an empty header matches.
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("default_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return Currency.of(value.strip().upper()).value

    @field_validator("free_shipping_above_usd")
    @classmethod
    def _whole_cents(cls, value: Decimal) -> Decimal:
        # A threshold of 49.999 was accepted, then every cart read and checkout failed: pricing
        # compares it as USD money, which has cents.
        try:
            whole_cents = value == value.quantize(Decimal("0.01"))
        except InvalidOperation:  # too many digits to quantize: 1e30, say
            whole_cents = False
        if not whole_cents:
            raise ValueError("must be whole cents of USD, e.g. 50.00")
        try:  # priced as USD money, which holds at most 15 digits before the point
            Money.of(value, "USD")
        except ValueError:
            raise ValueError("must be an amount of USD money, at most 15 digits") from None
        return value

    @field_validator("shipping_fees")
    @classmethod
    def _valid_fees(cls, value: str) -> str:
        parse_fees(value)
        return value

    @model_validator(mode="after")
    def _default_currency_is_sold(self) -> CartSettings:
        # Every cart that never selected a currency would be refused unsupported_currency.
        sold = parse_fees(self.shipping_fees)
        if self.default_currency not in sold:
            raise ValueError(
                f"CART_DEFAULT_CURRENCY {self.default_currency} has no shipping fee in "
                f"CART_SHIPPING_FEES (sold: {', '.join(sorted(sold))}): add one, or pick one "
                "of those"
            )
        return self

    @field_validator("shipping_countries")
    @classmethod
    def _valid_countries(cls, value: str) -> str:
        parse_countries(value)
        return value

    @property
    def gap_timeout(self) -> timedelta:
        return timedelta(seconds=self.sequence_gap_timeout_s)

    @property
    def abandon_after(self) -> timedelta:
        return timedelta(seconds=self.abandon_after_s)

    def checkout_rules(self) -> CheckoutRules:
        return CheckoutRules(
            shipping=ShippingPolicy.from_fees(
                parse_fees(self.shipping_fees), self.free_shipping_above_usd
            ),
            limits=CartLimits(max_line_quantity=self.max_line_quantity, max_lines=self.max_lines),
            shipping_countries=parse_countries(self.shipping_countries),
            default_currency=Currency.of(self.default_currency),
        )


def parse_fees(text: str) -> dict[str, str]:
    """``"USD=4.95,JPY=700"`` -> {"USD": "4.95", "JPY": "700"}; ValueError naming the problem."""
    fees: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, separator, amount = item.partition("=")
        code, amount = code.strip().upper(), amount.strip()
        if not separator:
            raise ValueError(f"{item!r}: expected CODE=amount, e.g. EUR=4.95")
        try:
            fee = Money.of(amount, code)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{item!r}: not an amount of a known currency ({error})") from None
        if fee.is_negative:
            raise ValueError(f"{item!r}: a shipping fee cannot be negative")
        fees[code] = amount
    if not fees:
        raise ValueError("at least one currency needs a shipping fee")
    return fees


def parse_countries(text: str) -> frozenset[str] | None:
    """``"*"`` -> None (worldwide); ``"US,CA"`` -> {"US", "CA"}."""
    if text.strip() == WORLDWIDE:
        return None
    codes = frozenset(code.strip().upper() for code in text.split(",") if code.strip())
    unknown = sorted(code for code in codes if not is_iso_country(code))
    if unknown or not codes:
        raise ValueError(
            f"shipping countries must be ISO 3166-1 alpha-2 codes or *; not {unknown or text!r}"
        )
    return codes
