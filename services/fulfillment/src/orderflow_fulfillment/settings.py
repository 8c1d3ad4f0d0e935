"""Settings of the fulfillment service itself (``FULFILLMENT_*`` environment variables).

The settings every service shares (database, Kafka, HTTP, consumer and relay tuning) are the
chassis' ``ServiceSettings``; these are fulfillment's own rules.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SEED_FILE = "package:stock.toml"


class FulfillmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FULFILLMENT_", extra="ignore")

    reservation_ttl_s: float = Field(
        default=900.0,
        gt=0,
        description="How long reserved stock waits for a payment outcome before it is released "
        "(ReservationReleased, reason 'expired').",
    )
    expiry_check_interval_s: float = Field(
        default=5.0, gt=0, description="How often expired reservations are looked for."
    )
    backorder_retry_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often replacements waiting for stock try to reserve again.",
    )
    shipping_service: str = Field(
        default="standard",
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="FulfillmentRequested.shipping_service for orders.",
    )
    replacement_shipping_service: str = Field(
        default="standard",
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="FulfillmentRequested.shipping_service for warranty replacements.",
    )
    seed_file: str = Field(
        default=DEFAULT_SEED_FILE,
        description="Stock file loaded at start for warehouses and SKUs not known yet (never "
        "overwrites a figure); 'package:stock.toml' is the one shipped with the service, "
        "a path is any other file, empty disables seeding.",
    )
