"""The returns service's own knobs, read from ``RETURNS_*`` environment variables.

The shared ones (database, Kafka, HTTP, consumer, relay) are the chassis's ``ServiceSettings``
with the same prefix. The return window and the warranty terms are the store's after-sales
policy, which the cart service shows as well: they are set once for both, with the
``AFTER_SALES_*`` variables (``orderflow_contracts.policies.AfterSalesPolicy``).
"""

from __future__ import annotations

from orderflow_chassis.subscriptions import Gather
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReturnsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNS_", extra="ignore", frozen=True)

    return_shipping_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="days the customer has to send the parcel after the return is authorised",
    )
    gather_ms: int = Field(
        default=300,
        ge=0,
        le=5000,
        description=(
            "the returns consumer gathers each batch this long (up to 200 events), idle or "
            "busy: it reads every order's facts and no saga step waits on it, so fuller batches "
            "cost less per order; a return request or parcel is answered that much later; 0 "
            "batches it as the saga's consumers do, else at least 100"
        ),
    )
    delivery_wait_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description=(
            "seconds a return request or warranty claim that a delivery (or the order) not "
            "read yet could change waits for one before it is rejected; 0 rejects at once"
        ),
    )

    @field_validator("gather_ms")
    @classmethod
    def _gather_long_enough(cls, value: int) -> int:
        return Gather.checked_setting(value)
