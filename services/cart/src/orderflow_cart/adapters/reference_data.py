"""The files the catalog and the rates are seeded from when the service first starts."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def packaged_file(name: str) -> str:
    return (resources.files("orderflow_cart") / "data" / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class SeedFiles:
    """The configured seed files, or the ones packaged with the service."""

    catalog_file: Path | None = None
    rates_file: Path | None = None

    def catalog_text(self) -> str:
        if self.catalog_file is not None:
            return self.catalog_file.read_text(encoding="utf-8")
        return packaged_file("catalog.csv")

    def rates_text(self) -> str:
        if self.rates_file is not None:
            return self.rates_file.read_text(encoding="utf-8")
        return packaged_file("rates.json")
