"""promtool, Prometheus' own checker, built once from the Go module proxy and cached.

It validates the alert rules (and, as recording rules, every dashboard query) exactly as
Prometheus will load them, and runs the rules' unit tests. The binary is built with
``go install`` into ``.tools/`` (gitignored) at the repository's root, copied to
``~/.cache/orderflow/`` for other clones on the machine, and reused after that;
``PROMTOOL=/path/to/promtool`` uses another one instead.

Build it ahead of a test run: ``uv run python -m tests.support.promtool``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Prometheus v3.x's Go module is versioned v0.3xx.y; this one is Prometheus 3.16.
PROMTOOL_MODULE = "github.com/prometheus/prometheus/cmd/promtool"
PROMTOOL_VERSION = "v0.316.0"
TOOLS = REPO / ".tools" / f"promtool-{PROMTOOL_VERSION}"
_BUILD_TIMEOUT_S = 40 * 60  # a cold build on a busy 2-core machine


class PromtoolUnavailable(RuntimeError):
    pass


# A build is also kept per user, so another clone on the same machine (CI's) reuses it.
USER_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "orderflow"
    / f"promtool-{PROMTOOL_VERSION}"
)


def available() -> Path | None:
    """promtool if it is configured or already built (here or by another clone); never
    builds it."""
    configured = os.environ.get("PROMTOOL")
    if configured:
        return Path(configured)
    for binary in (TOOLS / "promtool", USER_CACHE / "promtool"):
        if binary.exists():
            return binary
    return None


def promtool() -> Path:
    """The promtool binary, built on first use (see the module docstring)."""
    found = available()
    if found is not None:
        return found
    binary = TOOLS / "promtool"
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise PromtoolUnavailable(
            "Go is needed to build promtool (go install), and none is on PATH"
        )
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others wait and reuse it
        if not binary.exists():
            _build(go, binary)
    return binary


def _build(go: str, binary: Path) -> None:
    started = time.monotonic()
    print(f"building promtool {PROMTOOL_VERSION} into {binary.parent} (once)", file=sys.stderr)
    result = subprocess.run(
        [go, "install", f"{PROMTOOL_MODULE}@{PROMTOOL_VERSION}"],
        env={**os.environ, "GOBIN": str(binary.parent), "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0 or not binary.exists():
        raise PromtoolUnavailable(f"go install of promtool failed:\n{result.stderr[-4000:]}")
    USER_CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, USER_CACHE / "promtool")
    print(f"promtool built in {time.monotonic() - started:.0f} s", file=sys.stderr)


def run(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool()), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


if __name__ == "__main__":
    print(promtool())
