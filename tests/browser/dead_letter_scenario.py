"""A dead letter an operator can fix and replay: a stock count from a warehouse fulfillment
does not know (``unknown_warehouse``). The fix is the one its reason names — load the
warehouse with ``orderflow-fulfillment stock load`` — after which a replay is applied."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from orderflow_contracts.events import StockCounted

from tests.browser.console_system import ConsoleSystem

REASON = "unknown_warehouse"
SKU = "MB-PEANUT"


async def count_stock_in_unknown_warehouse(
    system: ConsoleSystem, warehouse: str, on_hand: int
) -> str:
    """A warehouse system publishes a count; fulfillment dead-letters it. Returns its event id."""
    [envelope] = await system.services.publish(
        [StockCounted(warehouse_id=warehouse, sku=SKU, on_hand=on_hand, counted_at=_now())],
        producer=warehouse,
    )
    return str(envelope.event_id)


async def add_warehouse(system: ConsoleSystem, warehouse: str, folder: Path) -> None:
    """What the dead letter's reason says to do: load the warehouse (no stock yet)."""
    stock_file = folder / f"{warehouse}.toml"
    stock_file.write_text(
        f'[[warehouses]]\nid = "{warehouse}"\nname = "Nordic (Oslo)"\ncountry = "NO"\n'
        f"near = []\n\n[warehouses.stock]\n{SKU} = 0\n"
    )
    env = {
        **os.environ,
        "FULFILLMENT_DATABASE_URL": system.infrastructure.service_database_urls["fulfillment"],
        "KAFKA_BOOTSTRAP_SERVERS": system.infrastructure.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": system.prefix,
    }
    command = [sys.executable, "-m", "orderflow_fulfillment", "stock", "load", str(stock_file)]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"stock load failed: {done.stdout}\n{done.stderr}"


async def on_hand(system: ConsoleSystem, warehouse: str) -> int | None:
    """Fulfillment's figure for the scenario's SKU in ``warehouse``, through its read API."""
    base_url = system.services.processes["fulfillment"].base_url
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.get("/stock", params={"sku": SKU, "warehouse": warehouse})
        response.raise_for_status()
        levels: list[dict[str, Any]] = response.json()
    return levels[0]["on_hand"] if levels else None


def _now() -> datetime:
    return datetime.now(UTC)
