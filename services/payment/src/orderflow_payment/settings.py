"""Settings of the payment service itself, from ``PAYMENT_*`` environment variables.

The shared ones (``PAYMENT_DATABASE_URL``, ports, consumer tuning) are the chassis's
``ServiceSettings``; these are the payment rules and the provider wiring.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore", case_sensitive=False)

    authorization_ttl_s: int = Field(
        default=7 * 24 * 3600,
        ge=1,
        description="An authorisation not captured after this long is voided (card schemes "
        "hold funds about 7 days).",
    )
    expiry_sweep_interval_s: float = Field(
        default=60.0, gt=0, description="How often expired authorisations are looked for."
    )

    card_provider: Literal["sandbox", "card-processor"] = Field(
        default="sandbox", description="Who authorises visa and mastercard payments."
    )
    paypal_provider: Literal["sandbox", "paypal"] = Field(
        default="sandbox", description="Who authorises paypal payments."
    )

    provider_retry_attempts: int = Field(
        default=4, ge=1, description="Calls per operation when the provider fails transiently."
    )
    provider_retry_initial_delay_s: float = Field(
        default=0.2, gt=0, description="The first pause before a provider call is retried."
    )
    provider_retry_max_delay_s: float = Field(
        default=2.0, gt=0, description="The longest pause between retries of a provider call."
    )
    provider_timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout per call.")

    sandbox_latency_ms: int = Field(
        default=0, ge=0, description="Delay the sandbox adds to every call, like a network hop."
    )

    card_processor_base_url: str = "https://api.card-processor.example"
    card_processor_api_key: SecretStr = SecretStr("")
    paypal_base_url: str = "https://api-m.sandbox.paypal.com"
    paypal_client_id: str = ""
    paypal_client_secret: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _retry_delays_in_order(self) -> Self:
        if self.provider_retry_initial_delay_s > self.provider_retry_max_delay_s:
            raise ValueError(
                "PAYMENT_PROVIDER_RETRY_INITIAL_DELAY_S "
                f"({self.provider_retry_initial_delay_s}) must not exceed "
                f"PAYMENT_PROVIDER_RETRY_MAX_DELAY_S ({self.provider_retry_max_delay_s})"
            )
        return self

    @model_validator(mode="after")
    def _credentials_for_real_providers(self) -> Self:
        """A real provider without its credentials is a missing setting, named at start."""
        missing = []
        if self.card_provider == "card-processor" and not self.card_processor_api_key:
            missing.append("PAYMENT_CARD_PROCESSOR_API_KEY (PAYMENT_CARD_PROVIDER=card-processor)")
        if self.paypal_provider == "paypal":
            if not self.paypal_client_id:
                missing.append("PAYMENT_PAYPAL_CLIENT_ID (PAYMENT_PAYPAL_PROVIDER=paypal)")
            if not self.paypal_client_secret:
                missing.append("PAYMENT_PAYPAL_CLIENT_SECRET (PAYMENT_PAYPAL_PROVIDER=paypal)")
        if missing:
            raise ValueError("not set: " + ", ".join(missing))
        return self

    def production_refusals(self) -> list[str]:
        """What ORDERFLOW_ENV=production refuses: sandboxes and placeholder addresses."""
        refusals = []
        if self.card_provider == "sandbox":
            refusals.append(
                "PAYMENT_CARD_PROVIDER is sandbox (approves test cards, moves no money); set "
                "PAYMENT_CARD_PROVIDER=card-processor with PAYMENT_CARD_PROCESSOR_BASE_URL and "
                "PAYMENT_CARD_PROCESSOR_API_KEY"
            )
        elif "card_processor_base_url" not in self.model_fields_set:
            refusals.append(
                "PAYMENT_CARD_PROCESSOR_BASE_URL is not set (the default "
                f"{self.card_processor_base_url} is a placeholder); set the processor's URL"
            )
        if self.paypal_provider == "sandbox":
            refusals.append(
                "PAYMENT_PAYPAL_PROVIDER is sandbox (approves test payments, moves no money); "
                "set PAYMENT_PAYPAL_PROVIDER=paypal with PAYMENT_PAYPAL_BASE_URL, "
                "PAYMENT_PAYPAL_CLIENT_ID and PAYMENT_PAYPAL_CLIENT_SECRET"
            )
        elif "sandbox" in self.paypal_base_url:
            refusals.append(
                f"PAYMENT_PAYPAL_BASE_URL is PayPal's sandbox ({self.paypal_base_url}); set "
                "PAYMENT_PAYPAL_BASE_URL=https://api-m.paypal.com"
            )
        return refusals
