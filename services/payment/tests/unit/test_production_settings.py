"""Payment under ORDERFLOW_ENV=production: no sandbox, no placeholder addresses; a real provider
without its credentials is a missing setting in any environment."""

from __future__ import annotations

import pytest
from orderflow_chassis.settings import ServiceSettings
from orderflow_payment.bootstrap import build_definition
from orderflow_payment.settings import PaymentSettings
from pydantic import SecretStr

LIVE_PROVIDERS = PaymentSettings(
    card_provider="card-processor",
    card_processor_base_url="https://cards.example.net",
    card_processor_api_key=SecretStr("key"),
    paypal_provider="paypal",
    paypal_base_url="https://api-m.paypal.com",
    paypal_client_id="id",
    paypal_client_secret=SecretStr("secret"),
)


def service_settings(environment: str) -> ServiceSettings:
    return ServiceSettings.for_service(
        "payment", environment=environment, database_url="postgresql://unused/db"
    )


def test_the_sandboxes_are_refused_each_with_what_to_set() -> None:
    refusals = PaymentSettings(
        card_provider="sandbox", paypal_provider="sandbox"
    ).production_refusals()

    assert [r.split(" (")[0] for r in refusals] == [
        "PAYMENT_CARD_PROVIDER is sandbox",
        "PAYMENT_PAYPAL_PROVIDER is sandbox",
    ]
    assert "set PAYMENT_CARD_PROVIDER=card-processor" in refusals[0]
    assert "set PAYMENT_PAYPAL_PROVIDER=paypal" in refusals[1]


def test_placeholder_and_sandbox_addresses_of_real_providers_are_refused() -> None:
    settings = LIVE_PROVIDERS.model_copy(
        update={"paypal_base_url": "https://api-m.sandbox.paypal.com"}
    )
    defaults = PaymentSettings(
        card_provider="card-processor",
        card_processor_api_key=SecretStr("key"),
        paypal_provider="paypal",
        paypal_client_id="id",
        paypal_client_secret=SecretStr("secret"),
    )

    assert settings.production_refusals() == [
        "PAYMENT_PAYPAL_BASE_URL is PayPal's sandbox (https://api-m.sandbox.paypal.com); set "
        "PAYMENT_PAYPAL_BASE_URL=https://api-m.paypal.com"
    ]
    assert defaults.production_refusals()[0].startswith(
        "PAYMENT_CARD_PROCESSOR_BASE_URL is not set (the default "
        "https://api.card-processor.example is a placeholder)"
    )
    assert LIVE_PROVIDERS.production_refusals() == []


def test_a_real_provider_without_credentials_names_the_missing_settings() -> None:
    with pytest.raises(ValueError, match="not set: ") as error:
        PaymentSettings(card_provider="card-processor", paypal_provider="paypal")

    message = str(error.value)
    assert "PAYMENT_CARD_PROCESSOR_API_KEY (PAYMENT_CARD_PROVIDER=card-processor)" in message
    assert "PAYMENT_PAYPAL_CLIENT_ID" in message
    assert "PAYMENT_PAYPAL_CLIENT_SECRET" in message


def test_the_service_hands_its_refusals_to_the_runtime_only_in_production() -> None:
    sandbox = PaymentSettings()

    production = build_definition(service_settings("production"), payment_settings=sandbox)
    development = build_definition(service_settings("development"), payment_settings=sandbox)

    assert len(production.production_refusals) == 2
    assert development.production_refusals == ()
