"""The README's run command: everything starts, reports ready, orders flow through the saga
(simulated shoppers and warehouse), and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.provisioning import DEFAULT_SERVICES
from orderflow_ops.local_ports import free_port_block

from tests.support.service_harness import unique_prefix

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _ready(port: int) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/health/ready"
    with urllib.request.urlopen(url, timeout=5) as response:
        loaded: dict[str, object] = json.load(response)
        return loaded


def _count(line: str, label: str) -> int:
    match = re.search(rf"{re.escape(label)}=(\d+)", line)
    return int(match[1]) if match else 0


def _service_processes(topic_prefix: str) -> list[str]:
    """The service processes this run started that are still alive: those whose environment
    carries its topic prefix (other tests run systems of their own at the same time)."""
    mark = f"KAFKA_TOPIC_PREFIX={topic_prefix}".encode()
    left = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "-m orderflow_" in command and mark in (proc / "environ").read_bytes().split(b"\0"):
                left.append(command)
        except OSError:  # not a process, or one that just ended
            continue
    return left


def test_run_command_starts_every_service_and_ctrl_c_stops_them(
    infrastructure: Infrastructure,
) -> None:
    topic_prefix = unique_prefix("run")
    # The services' ports count up from the first; the console takes the one after them.
    first_port = free_port_block(len(DEFAULT_SERVICES) + 1)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "DATABASE_URL": infrastructure.admin_database_url,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
    }
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orderflow_ops.system",
            "run",
            *("--first-port", str(first_port)),
            *("--console-port", str(first_port + len(DEFAULT_SERVICES))),
            *("--shoppers-per-second", "4", "--warehouse-delay-s", "0.5", "--seed", "3"),
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
            readiness = _ready(first_port + offset)
            assert readiness["status"] == "ok", (service, readiness)
        # What the check after Ctrl-C must find gone, found while it runs.
        assert len(_service_processes(topic_prefix)) >= len(DEFAULT_SERVICES)

        # The live progress line (every 10 s off a terminal) shows orders going through.
        for line in runner.stdout:
            output.append(line)
            if "orders completed=" in line or time.monotonic() > deadline:
                break
        runner.send_signal(signal.SIGINT)
        remaining, _ = runner.communicate(timeout=60)
        output.append(remaining)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()

    text = "".join(output)
    assert runner.returncode == 0, text
    assert "orders completed=" in text, text
    final = next(line for line in text.splitlines() if line.startswith("final counts:"))
    placed = _count(final, "orders placed")
    assert placed > 0
    assert _count(final, "paid (captured)") <= placed
    assert "nothing left running" in text
    assert _service_processes(topic_prefix) == []
