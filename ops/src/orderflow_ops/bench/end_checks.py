"""What a benchmark run is judged by once its orders are in: ``orderflow-ops check`` on the
run's topics, ledger and stock, and the deadlocks PostgreSQL counted in the run's database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
from orderflow_localinfra.discovery import Infrastructure

CHECK_SETTLE_S = 2.0


async def invariant_check(
    infrastructure: Infrastructure, prefix: str, fulfillment_url: str, log_dir: Path
) -> dict[str, Any]:
    """``orderflow-ops check`` on this run's topics, payment ledger and stock levels."""
    command = [
        *(sys.executable, "-m", "orderflow_ops", "check"),
        *("--bootstrap-servers", infrastructure.kafka_bootstrap_servers),
        *("--topic-prefix", prefix, "--fulfillment-url", fulfillment_url),
        # The check runs once every order completed (or the run gave up on it): nothing is
        # legitimately in flight, so the payment ledger is checked for all but the last
        # seconds instead of leaving out the last minute (the default), i.e. the paced phase.
        *("--settle-seconds", str(CHECK_SETTLE_S)),
    ]
    env = {**os.environ, "PAYMENT_DATABASE_URL": infrastructure.service_database_urls["payment"]}
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    await asyncio.to_thread(_write_text, log_dir / "check.log", text)
    return {
        "ok": process.returncode == 0,
        "exit_code": process.returncode,
        "command": "orderflow-ops check",
        "output_tail": text.strip().splitlines()[-12:],
    }


async def database_deadlocks(admin_url: str) -> int | None:
    """Deadlocks PostgreSQL detected in this database (a batch rolled back and retried each)."""
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            value = await connection.fetchval(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            )
            return None if value is None else int(value)
        finally:
            await connection.close()
    return None


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
