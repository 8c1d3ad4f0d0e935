"""Ports handed out for services, brokers and consoles are handed out once on the whole machine
while their process lives. Seen in CI: the run command's test picked its ports in one pytest
worker, the other worker picked one of them for a service of its own and bound it first, and
the run command's payment service could not start ("address already in use")."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from orderflow_ops import local_ports
from orderflow_ops.local_ports import LOCAL_PORTS, free_local_port, free_port_block


@pytest.fixture
def own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry = tmp_path / "ports.json"
    monkeypatch.setattr(local_ports, "REGISTRY", registry)
    return registry


@pytest.fixture
def another_process_holding_a_block() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A second process that claimed three ports (in the machine's registry) and still lives
    until its stdin closes."""
    claimer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from orderflow_ops.local_ports import free_port_block;"
            "print(free_port_block(3), flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert claimer.stdout is not None
    first = int(claimer.stdout.readline())
    try:
        yield claimer, first
    finally:
        assert claimer.stdin is not None
        claimer.stdin.close()
        claimer.wait(timeout=10)


def test_free_ports_are_below_the_ephemeral_range_and_bindable(own_registry: Path) -> None:
    ports = {free_local_port() for _ in range(20)}
    assert all(port in LOCAL_PORTS for port in ports)
    assert len(ports) == 20
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_a_port_is_handed_out_once_even_when_picked_again(
    own_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run starts its services together: a port handed to two of them, one could not start.
    first, second = _ports_free_now(2)
    picks = iter([first, first, first, second])
    monkeypatch.setattr("orderflow_ops.local_ports.secrets.choice", lambda _: next(picks))
    assert [free_local_port(), free_local_port()] == [first, second]


def test_a_port_of_a_block_handed_out_is_not_handed_out_alone(
    own_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = free_port_block(3)
    [other] = _ports_free_now(1)
    picks = iter([first + 1, other])
    monkeypatch.setattr("orderflow_ops.local_ports.secrets.choice", lambda _: next(picks))
    assert free_local_port() == other


def test_a_port_another_live_process_was_handed_is_not_handed_out(
    another_process_holding_a_block: tuple[subprocess.Popen[str], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, first = another_process_holding_a_block
    [other] = _ports_free_now(1)
    picks = iter([first + 2, first, other])
    monkeypatch.setattr("orderflow_ops.local_ports.secrets.choice", lambda _: next(picks))
    assert free_local_port() == other


def test_the_ports_of_a_process_that_ended_are_handed_out_again(
    another_process_holding_a_block: tuple[subprocess.Popen[str], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    claimer, first = another_process_holding_a_block
    assert claimer.stdin is not None
    claimer.stdin.close()
    claimer.wait(timeout=10)
    monkeypatch.setattr("orderflow_ops.local_ports.secrets.choice", lambda _: first + 1)
    assert free_local_port() == first + 1


def test_an_unreadable_registry_is_started_again(
    own_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_registry.write_text("{not json")
    [port] = _ports_free_now(1)
    monkeypatch.setattr("orderflow_ops.local_ports.secrets.choice", lambda _: port)
    assert free_local_port() == port


def _ports_free_now(count: int) -> list[int]:
    """Ports free now in the ephemeral range (so no claim in any registry can hold them)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def test_a_registry_that_cannot_be_used_falls_back_to_this_process_s_own_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review (helper 108): a read-only or full temporary directory, or another user's file,
    # made every pick raise, and the whole suite errored.
    monkeypatch.setattr(local_ports, "REGISTRY", tmp_path / "missing" / "ports.json")
    [port, other] = _ports_free_now(2)
    picks = iter([port, port, other])
    monkeypatch.setattr("orderflow_ops.local_ports.secrets.choice", lambda _: next(picks))
    assert [free_local_port(), free_local_port()] == [port, other]
