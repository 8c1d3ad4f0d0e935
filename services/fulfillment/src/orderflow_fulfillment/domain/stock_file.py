"""The stock file: warehouses (where they are, which countries they are near) and on-hand
figures per SKU. Used to seed a fresh installation and by ``orderflow-fulfillment stock load``.

```toml
[[warehouses]]
id = "EU-CENTRAL"
name = "Central Europe (Erfurt)"
country = "DE"
near = ["AT", "BE", "CH", "FR", "NL", "PL"]

[warehouses.stock]
MB-SPIKY-8CM = 80
```
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Self

from orderflow_contracts.card_data import contains_card_number
from orderflow_contracts.primitives import CountryCode, Name, Sku, WarehouseId
from pydantic import BaseModel, ConfigDict, Field, model_validator


class WarehouseEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: WarehouseId
    name: Name
    country: CountryCode
    near: list[CountryCode] = Field(
        default_factory=list, description="Countries this warehouse ships to quickly."
    )
    stock: dict[Sku, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


class StockFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warehouses: Annotated[list[WarehouseEntry], Field(min_length=1)]

    @model_validator(mode="after")
    def _no_card_numbers(self) -> Self:
        # Every service screens events for card numbers: a warehouse or SKU that reads as one
        # would have every reservation naming it refused downstream (the value is not echoed).
        for number, warehouse in enumerate(self.warehouses, start=1):
            texts = [warehouse.name, *warehouse.stock]
            if contains_card_number(warehouse.id, identifier=True) or any(
                contains_card_number(text) for text in texts
            ):
                raise ValueError(
                    f"warehouse {number} of the file: its id, name or a SKU holds a digit run "
                    "that reads as a card number; every service would refuse the events "
                    "that carry it"
                )
        return self

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [w.id for w in self.warehouses]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"warehouse ids must be unique: {', '.join(duplicates)}")
        return self

    @classmethod
    def from_toml(cls, text: str) -> StockFile:
        return cls.model_validate(tomllib.loads(text))
