"""Named lines as column arrays, for ``unnest``: one statement inserts any number of them."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow_fulfillment.ports import NamedLine


def line_columns(lines: Sequence[NamedLine]) -> tuple[list[str], list[str], list[int]]:
    """SKUs, names and quantities of ``lines``, in their order."""
    return (
        [line.sku for line in lines],
        [line.name for line in lines],
        [line.quantity for line in lines],
    )
