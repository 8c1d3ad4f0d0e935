"""The run command's supervisor with real service processes (on free ports, never the run
command's 8001-8004): a killed service comes back and serves again; a service that cannot
run is given up after repeated fast crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from orderflow_chassis.waiting import wait_at_most
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.supervisor import GaveUp, RestartPolicy, Supervisor
from orderflow_ops.system import ServiceProcess, wait_until_ready
from orderflow_ops.traffic import TrafficOptions, drive

from tests.support.service_harness import unique_prefix
from tests.support.system_harness import free_port

pytestmark = pytest.mark.integration

FAST = RestartPolicy(first_delay_s=0.2, max_delay_s=1.0, crash_limit=3, crash_window_s=60)


def _poll_until_given_up(supervisor: Supervisor, *, timeout_s: float) -> GaveUp | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        gave_up = supervisor.poll()
        if gave_up is not None:
            return gave_up
        time.sleep(0.1)
    return None


def test_a_killed_service_is_restarted_and_serves_again(
    orderflow_infrastructure: Infrastructure, tmp_path: Path
) -> None:
    cart = ServiceProcess("cart", free_port(), tmp_path / "cart.log")
    env = {"KAFKA_TOPIC_PREFIX": unique_prefix("supervised"), "LOG_FORMAT": "console"}
    cart.start(orderflow_infrastructure, env)
    try:
        wait_until_ready([cart], timeout_s=60)
        supervisor = Supervisor([cart], FAST)
        first_pid = cart.process.pid if cart.process else None
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)  # what a machine failure looks like

        deadline = time.monotonic() + 60
        while supervisor.restarts["cart"] == 0 and time.monotonic() < deadline:
            assert supervisor.poll() is None
            time.sleep(0.1)
        wait_until_ready([cart], timeout_s=60)

        assert supervisor.restarts == {"cart": 1}
        assert cart.process is not None
        assert cart.process.pid != first_pid
        assert cart.is_ready()
    finally:
        cart.stop()


def test_a_service_that_refuses_to_start_stops_the_system_at_once(
    orderflow_infrastructure: Infrastructure, tmp_path: Path
) -> None:
    dsn = orderflow_infrastructure.service_database_urls["cart"]
    unreachable = replace(
        orderflow_infrastructure,
        service_database_urls={"cart": dsn.replace("@", "-wrong-password@", 1)},
        _stop_callbacks=[],
    )
    cart = ServiceProcess("cart", free_port(), tmp_path / "cart.log")
    cart.start(unreachable, {"LOG_FORMAT": "console"})
    crashes: list[int | None] = []
    supervisor = Supervisor([cart], FAST, on_crash=lambda _s, code, _d: crashes.append(code))
    try:
        gave_up = _poll_until_given_up(supervisor, timeout_s=90)
    finally:
        cart.stop()

    # A wrong password is a start-up refusal (exit 2) naming what to fix: restarting cannot
    # fix it. (Fast crashes of another kind are counted as before: test_supervisor.py.)
    assert gave_up is not None, f"still running after {crashes}"
    assert gave_up.reason.startswith("cart refused to start (exit code 2)")
    assert supervisor.restarts == {"cart": 0}
    assert cart.exit_code() == 2


async def test_the_run_command_keeps_the_system_running_when_a_service_dies(
    orderflow_infrastructure: Infrastructure, tmp_path: Path
) -> None:
    prefix = unique_prefix("run-supervised")
    cart = ServiceProcess("cart", free_port(), tmp_path / "cart.log")
    cart.start(orderflow_infrastructure, {"KAFKA_TOPIC_PREFIX": prefix, "LOG_FORMAT": "console"})
    options = TrafficOptions(
        first_port=0,
        log_format="console",
        shoppers_per_second=0,  # the services alone, as --shoppers-per-second 0 runs them
        warehouse_delay_s=0,
        seed=None,
        topic_prefix=prefix,
        restart_policy=FAST,
    )
    loop = asyncio.get_running_loop()
    try:
        await asyncio.to_thread(wait_until_ready, [cart], timeout_s=60)
        running = asyncio.create_task(drive(orderflow_infrastructure, [cart], options))
        assert cart.process is not None
        first_pid = cart.process.pid
        os.kill(first_pid, signal.SIGKILL)

        deadline = time.monotonic() + 30
        while cart.process.pid == first_pid and not running.done():
            assert time.monotonic() < deadline, "never restarted"
            await asyncio.sleep(0.1)
        assert not running.done(), "the run command stopped because one service died"

        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: what stops the run command
        assert await wait_at_most(30, running) == 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)  # drive installed them on the shared loop
        cart.stop()
