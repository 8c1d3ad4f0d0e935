"""Long-lived server processes: pid files, liveness, ports, and stopping them cleanly."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import PortTaken


def read_pid_file(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def process_command_line(pid: int) -> str | None:
    """The process's command line, or None when no such (non-zombie) process exists."""
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            _reap_if_child(pid)
            return None
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def is_process_running(pid: int | None, command_marker: str) -> bool:
    """Whether `pid` is alive and still the program we started (pids get reused)."""
    if pid is None:
        return False
    command_line = process_command_line(pid)
    return command_line is not None and command_marker in command_line


def _reap_if_child(pid: int) -> None:
    # A server started by this very Python process stays a zombie until reaped.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_command_line(pid) is None:
            return True
        time.sleep(0.1)
    return process_command_line(pid) is None


def terminate(pid: int, *, grace_seconds: float) -> bool:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL. True if it stopped gracefully."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_for_exit(pid, grace_seconds):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_for_exit(pid, 10)
    return False


def port_accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_description(port: int) -> str:
    """Best effort: which process listens on `port` (from `ss`), for error messages."""
    if shutil.which("ss") is None:
        return ""
    result = subprocess.run(
        ["ss", "-H", "-ltnp", f"sport = :{port}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=5,
    )
    return result.stdout.strip()


def ensure_ports_free(host: str, ports: Sequence[int], owner: str) -> None:
    """Fail clearly when something other than our server already listens on a port."""
    for port in ports:
        if port_accepts_connections(host, port):
            holder = listener_description(port)
            raise PortTaken(
                f"{owner} cannot start: {host}:{port} is already in use by another process"
                + (f" ({holder})" if holder else ""),
                f"stop that process (find it with `ss -ltnp 'sport = :{port}'`), "
                "or point the tests at it with KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL",
            )


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - 64 * 1024))
            text = file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_logged(
    command: Sequence[str],
    log_file: Path,
    *,
    user: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    secrets: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion, appending its output to `log_file`.

    The command is written to the log first, with each of ``secrets`` masked.

    Output goes to a file rather than a pipe: `pg_ctl start` leaves a server behind that
    would otherwise hold the pipe open, and the log is what the developer reads on failure.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        shown = " ".join(command)
        for secret in secrets:
            shown = shown.replace(secret, "***")
        log.write(f"\n$ {shown}\n".encode())
        log.flush()
        return subprocess.run(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            user=user,
            group=_primary_group(user),
            extra_groups=[] if user is not None else None,
            start_new_session=True,
            check=False,
            timeout=timeout,
        )


def _primary_group(user: str | None) -> int | None:
    if user is None:
        return None
    return pwd.getpwnam(user).pw_gid


@contextlib.contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Serialise `up`/`down` across processes (e.g. two test sessions starting at once)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
