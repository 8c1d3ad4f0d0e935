"""The README's run command: everything starts, reports ready, and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.provisioning import DEFAULT_SERVICES

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FIRST_PORT = 18101


def _ready(port: int) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/health/ready"
    with urllib.request.urlopen(url, timeout=5) as response:
        loaded: dict[str, object] = json.load(response)
        return loaded


def _service_processes() -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if "-m orderflow_" in line]


def test_run_command_starts_every_service_and_ctrl_c_stops_them(
    infrastructure: Infrastructure,
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "DATABASE_URL": infrastructure.admin_database_url,
    }
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orderflow_ops.system",
            "run",
            "--first-port",
            str(FIRST_PORT),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert runner.stdout is not None
        deadline = time.monotonic() + 120
        for line in runner.stdout:
            output.append(line)
            if "running. Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        assert any("running." in line for line in output), "".join(output)

        for offset, service in enumerate(DEFAULT_SERVICES):
            readiness = _ready(FIRST_PORT + offset)
            assert readiness["status"] == "ok", (service, readiness)

        runner.send_signal(signal.SIGINT)
        remaining, _ = runner.communicate(timeout=60)
        output.append(remaining)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()

    assert runner.returncode == 0, "".join(output)
    assert "nothing left running" in "".join(output)
    assert _service_processes() == []
