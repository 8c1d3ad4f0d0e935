"""The headless Chromium the browser tests drive: Debian's `chromium` package.

Found at $ORDERFLOW_CHROMIUM, else `chromium` on PATH (Debian installs /usr/bin/chromium).
When missing and we are root with apt-get, it is installed from Debian's packages, the way
the local PostgreSQL server is; otherwise the error says how to install it. Playwright then
launches this binary (`executable_path=`), so no browser is ever downloaded from elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import PrerequisiteMissing
from .layout import StateLayout
from .processes import exclusive_lock, run_logged

CHROMIUM_ENV = "ORDERFLOW_CHROMIUM"
DEBIAN_PACKAGE = "chromium"
# apt-get waits this long for another apt/dpkg run to release its lock instead of failing.
_DPKG_LOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Chromium:
    executable: Path
    version: str
    installed_now: bool
    install_seconds: float | None = None


def find_chromium() -> Path | None:
    """The Chromium binary to use, or None when there is none."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return Path(override) if Path(override).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def chromium_version(executable: Path) -> str:
    result = subprocess.run(
        [str(executable), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise PrerequisiteMissing(
            f"{executable} --version failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[:500]}",
            f"reinstall Debian's `{DEBIAN_PACKAGE}` package, or point {CHROMIUM_ENV} at a "
            "working Chromium",
        )
    return result.stdout.strip()


def ensure_chromium(layout: StateLayout | None = None) -> Chromium:
    """Chromium, installed with apt-get first when missing and we may; else a clear error."""
    found = find_chromium()
    if found is not None:
        return Chromium(found, chromium_version(found), installed_now=False)
    if os.environ.get(CHROMIUM_ENV):
        raise PrerequisiteMissing(
            f"{CHROMIUM_ENV}={os.environ[CHROMIUM_ENV]} is not a file",
            f"unset {CHROMIUM_ENV} to use Debian's `{DEBIAN_PACKAGE}`, or fix the path",
        )
    if not (os.geteuid() == 0 and shutil.which("apt-get")):
        raise PrerequisiteMissing(
            "Chromium is not installed (the browser tests drive a real headless Chromium)",
            f"install Debian's package: `sudo apt-get install {DEBIAN_PACKAGE}` "
            f"(or set {CHROMIUM_ENV} to a Chromium binary), then run the tests again",
        )
    layout = layout or StateLayout.discover()
    log = layout.root / "chromium" / "apt.log"
    began = time.monotonic()
    # Two test sessions may both find it missing: the second waits, then finds it installed.
    with exclusive_lock(layout.root / "chromium" / "lock"):
        if find_chromium() is None:
            _install_with_apt(log)
    seconds = time.monotonic() - began
    found = find_chromium()
    if found is None:
        raise PrerequisiteMissing(
            f"apt-get installed `{DEBIAN_PACKAGE}` but no chromium binary is on PATH; see {log}",
            f"check `dpkg -L {DEBIAN_PACKAGE}`, or set {CHROMIUM_ENV} to the binary",
        )
    return Chromium(found, chromium_version(found), installed_now=True, install_seconds=seconds)


def _install_with_apt(log: Path) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_wait = f"DPkg::Lock::Timeout={_DPKG_LOCK_TIMEOUT_S}"
    for command in (
        ["apt-get", "-o", lock_wait, "update"],
        ["apt-get", "-o", lock_wait, "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE],
    ):
        if run_logged(command, log, env=env, timeout=1200).returncode != 0:
            raise PrerequisiteMissing(
                f"`{' '.join(command)}` failed; see {log}",
                f"install Debian's `{DEBIAN_PACKAGE}` package by hand "
                f"(`sudo apt-get install {DEBIAN_PACKAGE}`), then run the tests again",
            )
