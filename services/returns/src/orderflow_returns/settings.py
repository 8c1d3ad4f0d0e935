"""The returns policy knobs, read from ``RETURNS_*`` environment variables.

The shared ones (database, Kafka, HTTP, consumer, relay) are the chassis's ``ServiceSettings``
with the same prefix.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orderflow_contracts.policies import (
    DEFAULT_WARRANTY_POLICY,
    RETURN_WINDOW_DAYS,
    ReturnWindow,
    WarrantyPolicy,
)
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReturnsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNS_", extra="ignore", frozen=True)

    return_window_days: int = Field(
        default=RETURN_WINDOW_DAYS,
        ge=0,
        le=365,
        description="calendar days after the delivery day during which a return may be requested",
    )
    window_time_zone: str = Field(
        default="UTC",
        description="IANA time zone whose calendar days the window and warranty terms count",
    )
    return_shipping_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="days the customer has to send the parcel after the return is authorised",
    )
    warranty_policy_file: Path | None = Field(
        default=None,
        description="TOML table of warranty terms per country; default: the store's shared "
        "policy (orderflow_contracts.policies)",
    )

    @field_validator("window_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @property
    def window(self) -> ReturnWindow:
        return ReturnWindow(self.return_window_days, ZoneInfo(self.window_time_zone))

    def warranty_policy(self) -> WarrantyPolicy:
        if self.warranty_policy_file is not None:
            return WarrantyPolicy.load(self.warranty_policy_file)
        return DEFAULT_WARRANTY_POLICY
