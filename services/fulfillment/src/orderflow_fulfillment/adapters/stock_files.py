"""Reading stock files: the one shipped with the service, or any path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from orderflow_fulfillment.domain.stock_file import StockFile

PACKAGE_PREFIX = "package:"


def read_stock_file(location: str) -> StockFile:
    """``package:NAME`` is a file shipped in orderflow_fulfillment/data; anything else a path."""
    if location.startswith(PACKAGE_PREFIX):
        name = location.removeprefix(PACKAGE_PREFIX)
        text = (resources.files("orderflow_fulfillment") / "data" / name).read_text("utf-8")
    else:
        text = Path(location).read_text("utf-8")
    return StockFile.from_toml(text)
