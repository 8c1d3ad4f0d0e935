"""Free loopback ports for services, brokers and consoles that tests and benchmarks start.

A port found free is not bound until the process it is for starts, seconds or minutes later.
Meanwhile any other process on the machine that picks ports the same way must not pick it too:
the test suite runs in two workers, and each starts services, brokers and consoles of its own.
So every port handed out is claimed in a registry shared by every process on the machine
(a JSON file under a file lock), and stays claimed while the process that asked for it lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# Below Linux's ephemeral range (32768 and up by default): no outgoing connection (to Kafka,
# PostgreSQL...) takes a port found free here before the service binds it.
LOCAL_PORTS = range(20000, 32000)

# One per user: another user's file in a sticky /tmp could be neither opened nor replaced.
REGISTRY = Path(tempfile.gettempdir()) / f"orderflow-local-ports-{os.getuid()}.json"

# Ports this process handed out, for when the registry cannot be used (a read-only or full
# temporary directory): then only this process's own picks are kept apart, as before it.
_handed_out: set[int] = set()


def free_local_port() -> int:
    """A loopback port free now, picked at random below the ephemeral range, and claimed for
    this process: no process on this machine is handed it again while this one lives."""
    return free_port_block(1)


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive ports free now and claimed for this process (see
    :func:`free_local_port`), for a command that takes a first port and counts up from it
    (``orderflow-system run --first-port``)."""
    try:
        with _claims() as claims:
            return _claim(count, claims)
    except OSError as error:
        log.warning("ports.registry_unusable", registry=str(REGISTRY), error=str(error))
        return _claim(count, {})


def _claim(count: int, claims: dict[str, int]) -> int:
    for _ in range(200):
        first = secrets.choice(range(LOCAL_PORTS.start, LOCAL_PORTS.stop - count + 1))
        block = range(first, first + count)
        taken = any(str(port) in claims or port in _handed_out for port in block)
        if taken or not _bindable(block):
            continue
        claims.update({str(port): os.getpid() for port in block})
        _handed_out.update(block)
        return first
    raise RuntimeError(f"no {count} consecutive free ports in {LOCAL_PORTS}")


def _bindable(ports: range) -> bool:
    try:
        for port in ports:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _claims() -> Iterator[dict[str, int]]:
    """The live claims (port -> pid), locked against every other process until the block ends;
    what the block adds is written back."""
    with open(f"{REGISTRY}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            claims = {port: pid for port, pid in _read(REGISTRY).items() if _alive(pid)}
            yield claims
            staged = REGISTRY.with_name(f"{REGISTRY.name}.{os.getpid()}")
            staged.write_text(json.dumps(claims))
            staged.replace(REGISTRY)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(registry: Path) -> dict[str, int]:
    try:
        loaded = json.loads(registry.read_text())
    except (OSError, ValueError):  # none yet, or left unreadable: start again
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(port): pid for port, pid in loaded.items() if isinstance(pid, int) and pid > 0}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
