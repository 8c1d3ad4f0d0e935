"""The probe service (:mod:`tests.support.probe_service`) in a child process, so a test can
SIGKILL it at an exact step, and reads of what it applied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parents[2]


class ProbeProcess:
    """The probe service in a child process, so it can be SIGKILLed."""

    def __init__(self, schema: str, database_url: str, kafka: str, log_dir: Path) -> None:
        self.schema = schema
        self.env = {
            **os.environ,
            "PROBE_DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "LOG_LEVEL": "INFO",
        }
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, *args: str, crash: str | None = None, crash_at: str | None = None) -> None:
        """Start the probe; ``crash`` names an environment switch to set, ``crash_at`` a step
        of the consumer's first batch to SIGKILL itself at (``PROBE_CRASH_AT``)."""
        env = dict(self.env)
        if crash:
            env[crash] = "1"
        if crash_at:
            env["PROBE_CRASH_AT"] = crash_at
        self.runs += 1
        log = (self.log_dir / f"{self.schema}-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.probe_service", "--schema", self.schema, *args],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_for_exit(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob(f"{self.schema}-*.log")))


async def effect_counts(
    database_url: str, schema: str, event_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            f"SELECT event_id, count(*) AS n FROM {schema}.effects "
            "WHERE event_id = ANY($1::uuid[]) GROUP BY event_id",
            event_ids,
        )
    finally:
        await connection.close()
    return {row["event_id"]: row["n"] for row in rows}
