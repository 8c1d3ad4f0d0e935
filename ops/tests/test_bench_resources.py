"""CPU and memory accounting of the benchmark, from /proc snapshots (real and made up)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from orderflow_ops.bench.resources import (
    CpuSnapshot,
    MachineTicks,
    ProcessStat,
    RssSampler,
    cpu_between,
    listening_pid,
    parse_machine_ticks,
    parse_process_stat,
    parse_rss_bytes,
    port_of,
    tree_ticks,
)


def stat_line(
    pid: int, name: str, parent: int, utime: int, stime: int, cu: int = 0, cs: int = 0
) -> str:
    # Fields 3.. of /proc/<pid>/stat; 14-17 are utime, stime, cutime, cstime.
    rest = ["S", str(parent), *["0"] * 9, str(utime), str(stime), str(cu), str(cs), *["0"] * 30]
    return f"{pid} ({name}) {' '.join(rest)}\n"


def test_a_process_stat_is_read_even_when_its_name_has_spaces_and_parentheses() -> None:
    stat = parse_process_stat(stat_line(42, "postgres: (x) idle", 7, 120, 30, 5, 6))

    assert stat == ProcessStat(42, "postgres: (x) idle", 7, 150, 11)


def test_this_process_own_stat_parses() -> None:
    stat = parse_process_stat(Path(f"/proc/{os.getpid()}/stat").read_text())

    assert stat.pid == os.getpid()
    assert stat.parent == os.getppid()


def test_machine_busy_time_leaves_out_idle_and_iowait() -> None:
    ticks = parse_machine_ticks("cpu  100 5 50 1000 40 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")

    assert ticks == MachineTicks(busy=100 + 5 + 50 + 3 + 2 + 1, total=1201)


def test_the_machine_line_is_required() -> None:
    with pytest.raises(ValueError, match="cpu"):
        parse_machine_ticks("intr 1 2 3\n")


def test_resident_memory_is_read_in_bytes() -> None:
    assert parse_rss_bytes("Name:\tpython\nVmRSS:\t  2048 kB\nThreads: 3\n") == 2 * 1024 * 1024
    assert parse_rss_bytes("Name:\tkworker\n") is None


def test_a_tree_counts_its_live_descendants_and_children_it_already_reaped() -> None:
    stats = {
        1: ProcessStat(1, "postmaster", 0, own_ticks=10, reaped_children_ticks=500),
        2: ProcessStat(2, "backend", 1, own_ticks=20, reaped_children_ticks=0),
        3: ProcessStat(3, "worker", 2, own_ticks=5, reaped_children_ticks=1),
        9: ProcessStat(9, "unrelated", 0, own_ticks=999, reaped_children_ticks=0),
    }

    assert tree_ticks(1, stats) == 10 + 500 + 20 + 5 + 1
    assert tree_ticks(3, stats) == 6
    assert tree_ticks(77, stats) is None


def snapshot(machine_busy: int, machine_total: int, **components: int | None) -> CpuSnapshot:
    return CpuSnapshot(MachineTicks(machine_busy, machine_total), dict(components))


def test_cpu_between_two_snapshots_in_seconds_and_per_order() -> None:
    before = snapshot(1_000, 10_000, payment=100, kafka=50, gone=10)
    after = snapshot(1_600, 10_800, payment=300, kafka=150, gone=None)

    usage = cpu_between(before, after, ticks_per_s=100)

    assert usage.machine_s == 6.0
    assert usage.machine_capacity_s == 8.0
    assert usage.components_s == {"payment": 2.0, "kafka": 1.0, "gone": None}
    assert usage.other_s == 3.0  # what no component accounts for
    assert usage.per_order_ms(100) == {
        "machine": 60.0,
        "payment": 20.0,
        "kafka": 10.0,
        "gone": None,
        "other": 30.0,
    }
    assert usage.per_order_ms(0) == {}


def test_further_instances_of_a_service_count_as_the_service() -> None:
    before = snapshot(0, 0, payment=100, **{"payment#2": 50, "payment#3": 0})
    after = snapshot(0, 0, payment=200, **{"payment#2": 250, "payment#3": 100})

    usage = cpu_between(before, after, ticks_per_s=100)

    assert usage.components_s == {"payment": 4.0}


def test_a_component_whose_counter_went_back_was_restarted_and_is_not_counted() -> None:
    usage = cpu_between(snapshot(0, 0, cart=500), snapshot(0, 0, cart=20), ticks_per_s=100)

    assert usage.components_s == {"cart": None}


def fake_proc(
    root: Path, processes: dict[int, str], machine: str = "cpu  10 0 10 80 0 0 0 0\n"
) -> Path:
    (root / "net").mkdir(parents=True)
    (root / "stat").write_text(machine)
    for pid, line in processes.items():
        (root / str(pid) / "fd").mkdir(parents=True)
        (root / str(pid) / "stat").write_text(line)
        (root / str(pid) / "status").write_text(f"Name:\tx\nVmRSS:\t{pid} kB\n")
    return root


def test_a_snapshot_counts_trees_and_this_process_alone(tmp_path: Path) -> None:
    me = os.getpid()
    proc = fake_proc(
        tmp_path / "proc",
        {
            me: stat_line(me, "bench", 1, 7, 3, cu=1000),  # its services' time is theirs
            4000: stat_line(4000, "postgres", 1, 1, 1, cu=40),
            4001: stat_line(4001, "postgres: backend", 4000, 5, 5),
        },
    )

    taken = CpuSnapshot.take({"bench": me, "postgres": 4000, "missing": 5}, proc)

    assert taken.machine == MachineTicks(busy=20, total=100)
    assert taken.components == {"bench": 10, "postgres": 52, "missing": None}


def test_the_process_listening_on_a_port_is_found_through_its_socket(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path / "proc", {10: stat_line(10, "a", 1, 0, 0), 20: stat_line(20, "b", 1, 0, 0)}
    )
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when ... inode\n"
    listening = (
        "   0: 0100007F:4A9C 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5551 1\n"
    )
    connected = (
        "   1: 0100007F:4A9C 0100007F:9999 01 00000000:00000000 00:00000000 00000000 0 0 5552 1\n"
    )
    (proc / "net" / "tcp").write_text(header + connected + listening)
    os.symlink("socket:[5552]", proc / "10" / "fd" / "3")
    os.symlink("socket:[5551]", proc / "20" / "fd" / "7")

    assert listening_pid(0x4A9C, proc) == 20  # port 19100
    assert listening_pid(5432, proc) is None


def test_the_port_of_an_address() -> None:
    assert port_of("127.0.0.1:19092,127.0.0.1:19093", 9092) == 19092
    assert port_of("kafka", 9092) == 9092


def test_the_sampler_keeps_each_peak(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path / "proc", {300: stat_line(300, "a", 1, 0, 0)})
    sampler = RssSampler(lambda: {"cart": 300, "gone": 999})

    sampler.sample(proc)
    (proc / "300" / "status").write_text("VmRSS:\t100 kB\n")
    sampler.sample(proc)

    assert sampler.peaks == {"cart": 300 * 1024}
