"""CPU and memory of the processes a benchmark run involves, read from /proc (Linux).

CPU is counted in clock ticks and turned into seconds only at the end. A component is a
process tree: its live processes' own time (utime + stime) plus the time of children they
already reaped (cutime + cstime). That keeps short-lived processes in the count: a PostgreSQL
backend that served one connection and exited is in the postmaster's cutime once reaped, so a
client that opens a connection per call pays for it in the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orderflow_chassis.waiting import wait_at_most

PROC = Path("/proc")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"  # the TCP state code of a listening socket in /proc/net/tcp


@dataclass(frozen=True)
class ProcessStat:
    """The fields of /proc/<pid>/stat that CPU accounting needs, in clock ticks."""

    pid: int
    name: str
    parent: int
    own_ticks: int  # utime + stime
    reaped_children_ticks: int  # cutime + cstime


def parse_process_stat(text: str) -> ProcessStat:
    # The name is in parentheses and may itself hold spaces and ')': split at the last ')'.
    head, _, tail = text.rpartition(")")
    pid_text, _, name = head.partition(" (")
    fields = tail.split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return ProcessStat(
        pid=int(pid_text),
        name=name,
        parent=int(fields[1]),
        own_ticks=utime + stime,
        reaped_children_ticks=cutime + cstime,
    )


@dataclass(frozen=True)
class MachineTicks:
    busy: int
    total: int


def parse_machine_ticks(proc_stat: str) -> MachineTicks:
    """The first line of /proc/stat: user nice system idle iowait irq softirq steal ...
    (guest time is already inside user). Busy is everything but idle and iowait."""
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:9]]
            idle = values[3] + values[4]
            return MachineTicks(busy=sum(values) - idle, total=sum(values))
    raise ValueError("no aggregate cpu line in /proc/stat")


def parse_rss_bytes(status: str) -> int | None:
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None  # a kernel thread or a zombie


def tree_ticks(root: int, stats: Mapping[int, ProcessStat]) -> int | None:
    """CPU ticks of ``root`` and every live descendant, reaped children included;
    None when ``root`` is gone."""
    if root not in stats:
        return None
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.parent, []).append(stat.pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        stat = stats[pid]
        total += stat.own_ticks + stat.reaped_children_ticks
        pending.extend(children.get(pid, ()))
    return total


def read_all_process_stats(proc: Path = PROC) -> dict[int, ProcessStat]:
    stats: dict[int, ProcessStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):  # it exited meanwhile
            stat = parse_process_stat((entry / "stat").read_text())
            stats[stat.pid] = stat
    return stats


def read_rss_bytes(pid: int, proc: Path = PROC) -> int | None:
    try:
        return parse_rss_bytes((proc / str(pid) / "status").read_text())
    except OSError:
        return None


def listening_pid(port: int, proc: Path = PROC) -> int | None:
    """The process that listens on TCP ``port`` (any address), found through the socket's
    inode: the owner of the fd that points at it. None when it is not visible from here."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (proc / "net" / table).read_text().splitlines()[1:]:
                columns = line.split()
                local_port = int(columns[1].rsplit(":", 1)[1], 16)
                if local_port == port and columns[3] == LISTEN:
                    inodes.add(f"socket:[{columns[9]}]")
    if not inodes:
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


def port_of(address: str, default: int) -> int:
    """The port of ``host:port`` (first of a comma-separated list), else ``default``."""
    first = address.split(",")[0].strip()
    _, _, port = first.rpartition(":")
    return int(port) if port.isdigit() else default


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU ticks of each component and of the whole machine at one instant."""

    machine: MachineTicks
    components: dict[str, int | None]

    @classmethod
    def take(cls, components: Mapping[str, int], proc: Path = PROC) -> CpuSnapshot:
        """``components``: name -> root pid of its process tree. ``bench`` counts this process
        alone (its services are its children, and are counted as themselves)."""
        machine = parse_machine_ticks((proc / "stat").read_text())
        stats = read_all_process_stats(proc)
        own = os.getpid()
        ticks: dict[str, int | None] = {}
        for name, pid in components.items():
            if pid == own:
                ticks[name] = stats[own].own_ticks if own in stats else None
            else:
                ticks[name] = tree_ticks(pid, stats)
        return cls(machine, ticks)


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds spent between two snapshots."""

    machine_s: float
    machine_capacity_s: float  # every core's time: the machine's busy share is machine/capacity
    components_s: dict[str, float | None]

    @property
    def other_s(self) -> float:
        """Machine time no listed component accounts for (the OS, other processes)."""
        counted = sum(value for value in self.components_s.values() if value is not None)
        return max(0.0, self.machine_s - counted)

    def per_order_ms(self, orders: int) -> dict[str, float | None]:
        if orders <= 0:
            return {}
        per_order: dict[str, float | None] = {"machine": self.machine_s * 1000 / orders}
        for name, seconds in self.components_s.items():
            per_order[name] = None if seconds is None else seconds * 1000 / orders
        per_order["other"] = self.other_s * 1000 / orders
        return per_order


def cpu_between(
    before: CpuSnapshot, after: CpuSnapshot, ticks_per_s: int = CLOCK_TICKS_PER_S
) -> CpuUsage:
    """What each component spent; None for one that was not running at both instants (or
    restarted, so its counter went back)."""
    components: dict[str, float | None] = {}
    for name, start in before.components.items():
        end = after.components.get(name)
        if start is None or end is None or end < start:
            components[name] = None
        else:
            components[name] = (end - start) / ticks_per_s
    components = _instances_folded(components)
    return CpuUsage(
        machine_s=(after.machine.busy - before.machine.busy) / ticks_per_s,
        machine_capacity_s=(after.machine.total - before.machine.total) / ticks_per_s,
        components_s=components,
    )


def _instances_folded(components: dict[str, float | None]) -> dict[str, float | None]:
    """Further instances of a service ("payment#2") count as the service ("payment")."""
    folded: dict[str, float | None] = {}
    for name, seconds in components.items():
        service = name.split("#", 1)[0]
        if service not in folded:
            folded[service] = seconds
        else:
            known = folded[service]
            folded[service] = None if known is None or seconds is None else known + seconds
    return folded


@dataclass
class RssSampler:
    """Samples the resident memory of some processes every ``every_s`` and keeps each peak."""

    pids: Callable[[], Mapping[str, int]]  # read at every sample: restarts change pids
    every_s: float = 1.0
    peaks: dict[str, int] = field(default_factory=dict)

    def sample(self, proc: Path = PROC) -> None:
        for name, pid in self.pids().items():
            rss = read_rss_bytes(pid, proc)
            if rss is not None and rss > self.peaks.get(name, 0):
                self.peaks[name] = rss

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await wait_at_most(self.every_s, stop.wait())


def machine_description() -> dict[str, object]:
    memory = 0
    with contextlib.suppress(OSError, ValueError):
        for line in (PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return {"host": socket.gethostname(), "cpus": os.cpu_count(), "memory_bytes": memory}


def component_pids(named: Iterable[tuple[str, int | None]]) -> dict[str, int]:
    """Leave out the components whose process was not found."""
    return {name: pid for name, pid in named if pid is not None}
