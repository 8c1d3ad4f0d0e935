"""One benchmark invocation: raw limits, the four services, K measured runs, the check.

The services run exactly as ``make run`` starts them (one process each, their own database
roles), with the ops console unless told otherwise (its cost is reported apart: see
:mod:`orderflow_ops.bench.console_cost`), in a database of their own
(:func:`isolated_database`: no earlier run's rows) and on a topic prefix of their own, against
a warehouse that answers at once. Kafka and PostgreSQL are found or started as everywhere else
(:func:`ensure_infrastructure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orderflow_fulfillment.simulator import SimulatorConfig, WarehouseSimulator
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.isolation import isolated_database
from orderflow_localinfra.leftover_topics import delete_test_topics
from orderflow_localinfra.provisioning import DEFAULT_SERVICES, PROVISIONED_SERVICES

from orderflow_ops.bench.console_cost import ConsoleSessions, console_group_prefix
from orderflow_ops.bench.end_checks import database_deadlocks, invariant_check
from orderflow_ops.bench.lag import LagProbe
from orderflow_ops.bench.load import MAX_UNITS_PER_ORDER, StorefrontLoad, stock_everything
from orderflow_ops.bench.observer import Observer
from orderflow_ops.bench.outage import OutagePlan, outage_phase
from orderflow_ops.bench.phases import (
    BenchFailed,
    PhaseContext,
    idle_phase,
    paced_order_count,
    paced_phase,
    sustained_phase,
)
from orderflow_ops.bench.raw_limits import measure_raw_limits
from orderflow_ops.bench.report import measured_limit_names
from orderflow_ops.bench.resources import RssSampler, listening_pid, port_of
from orderflow_ops.bench.terminal import Progress
from orderflow_ops.local_ports import free_local_port
from orderflow_ops.system import (
    ServiceFailedToStart,
    ServiceProcess,
    console_process,
    wait_until_ready,
)
from orderflow_ops.traffic import catalog

KAFKA_DEFAULT_PORT = 9092
POSTGRES_DEFAULT_PORT = 5432


@dataclass(frozen=True)
class BenchConfig:
    orders: int = 3000
    paced_orders: int = 1500
    paced_seconds: float = 30.0
    rate: float | None = None  # paced orders/s; None: half the sustained throughput
    runs: int = 1
    raw_limits: bool = True
    kafka_raw_records: int = 30_000
    java_raw_records: int = 200_000
    postgres_raw_seconds: float = 5.0
    stall_timeout_s: float = 120.0
    idle_seconds: float = 5.0  # before each run: the services' CPU with no order in flight
    # Published at full speed before the first run, and not measured: right after the broker
    # starts, a first run cost half as much again per order (its JVM compiling).
    warmup_orders: int = 300
    label: str = "bench"  # topic prefix and database name start with it
    instances: int = 1  # processes per service, in one consumer group each (scale-out)
    seed: int = 1
    console: bool = True  # run the ops console too, as make run does, and report its cost
    log_dir: Path = Path(".bench/logs")
    # The outage phase (off unless outage_seconds > 0): see orderflow_ops.bench.outage.
    outage_seconds: float = 0.0
    outage_rate: float = 50.0
    outage_service: str = "payment"
    outage_warmup_seconds: float = 10.0
    outage_tail_seconds: float = 15.0
    outage_max_catch_up_seconds: float = 300.0
    outage_only: bool = False  # the outage phase without the idle, sustained and paced ones

    def outage_plan(self) -> OutagePlan | None:
        if self.outage_seconds <= 0:
            return None
        return OutagePlan(
            service=self.outage_service,
            seconds=self.outage_seconds,
            rate=self.outage_rate,
            warmup_s=self.outage_warmup_seconds,
            tail_s=self.outage_tail_seconds,
            max_catch_up_s=self.outage_max_catch_up_seconds,
        )

    def outage_orders(self) -> int:
        """The most orders the outage phase can publish (for the stock)."""
        plan = self.outage_plan()
        if plan is None:
            return 0
        return round(plan.rate * (plan.warmup_s + plan.seconds + plan.max_catch_up_s + 60))


@dataclass
class BenchOutcome:
    raw_limits: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    orders: int = 0
    completed: int = 0
    problems: list[str] = field(default_factory=list)
    check: dict[str, Any] = field(default_factory=dict)
    topic_prefix: str = ""
    deadlocks: int | None = None  # PostgreSQL's count in the run's database (pg_stat_database)

    @property
    def ok(self) -> bool:
        return not self.problems and self.orders == self.completed and bool(self.check.get("ok"))


async def run_benchmark(
    infrastructure: Infrastructure, config: BenchConfig, progress: Progress
) -> BenchOutcome:
    outcome = BenchOutcome(topic_prefix=f"{config.label}-{uuid.uuid4().hex[:8]}.")
    bootstrap = infrastructure.kafka_bootstrap_servers
    try:
        provisioned = PROVISIONED_SERVICES if config.console else DEFAULT_SERVICES
        async with isolated_database(infrastructure, config.label, provisioned) as isolated:
            if config.raw_limits:
                outcome.raw_limits = await measure_raw_limits(
                    isolated,
                    outcome.topic_prefix,
                    kafka_records=config.kafka_raw_records,
                    java_records=config.java_raw_records,
                    postgres_seconds=config.postgres_raw_seconds,
                    report=progress.step,
                )
            try:
                await _with_services(isolated, config, outcome, progress)
            finally:
                # The services are stopped: their sessions flushed their statistics.
                outcome.deadlocks = await database_deadlocks(isolated.admin_database_url)
    except BenchFailed as failed:
        outcome.problems.append(str(failed))
    finally:
        with contextlib.suppress(Exception):  # cleanup only: never hide the real outcome
            await delete_test_topics(bootstrap, re.compile("^" + re.escape(outcome.topic_prefix)))
    return outcome


async def _with_services(
    infrastructure: Infrastructure, config: BenchConfig, outcome: BenchOutcome, progress: Progress
) -> None:
    bootstrap = infrastructure.kafka_bootstrap_servers
    prefix = outcome.topic_prefix
    services = [
        ServiceProcess(name, free_local_port(), config.log_dir / _log_name(name, number))
        for name in DEFAULT_SERVICES
        for number in range(1, config.instances + 1)
    ]
    with_console = " and the ops console" if config.console else ""
    progress.step(
        f"starting {', '.join(DEFAULT_SERVICES)} x{config.instances}{with_console} "
        f"(topic prefix {prefix}) ..."
    )
    warehouse = WarehouseSimulator(
        bootstrap,
        topic_prefix=prefix,
        config=SimulatorConfig(dispatch_delay_s=0, delivery_delay_s=0, receive_returns=False),
    )
    observer = Observer(bootstrap, prefix)
    lag = LagProbe(bootstrap, prefix)
    stop_sampling = asyncio.Event()
    # Every cleanup runs, in reverse order of registration, even when one before it fails (a
    # broker that went away makes a Kafka client's stop raise, even CancelledError, hence
    # _quietly): the services, registered first, are always stopped, never left running.
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.push_async_callback(asyncio.to_thread, _stop_all, services)
        for kafka_client in (warehouse, lag, observer):  # lag: never started if a service failed
            cleanup.push_async_callback(_quietly, kafka_client.stop)
        for service in services:
            service.start(infrastructure, {"KAFKA_TOPIC_PREFIX": prefix, "LOG_FORMAT": "json"})
        if config.console:
            console, console_env, _ = console_process(services, free_local_port(), config.log_dir)
            environment = {"KAFKA_TOPIC_PREFIX": prefix, "LOG_FORMAT": "json", **console_env}
            console.start(infrastructure, environment)
            services.append(console)
        try:
            await asyncio.to_thread(wait_until_ready, services)
        except ServiceFailedToStart as failed:
            tail = failed.service.log_tail(20)
            raise BenchFailed(f"{failed}; last lines of its log:\n{tail}") from failed
        await warehouse.start()
        await observer.start()
        await lag.start()
        by_name = {service.name: service for service in services}
        total_orders = config.warmup_orders + config.runs * (
            config.orders + config.paced_orders + config.outage_orders()
        )
        units = max(100_000, 10 * MAX_UNITS_PER_ORDER * total_orders)
        stocked = await stock_everything(warehouse, by_name["fulfillment"].base_url, units)
        on_sale = {p.sku for p in await catalog(by_name["cart"].base_url)}
        skus = sorted(on_sale & set(stocked))
        progress.step(f"services ready; {len(skus)} products stocked with {units:,} units each")
        load = StorefrontLoad(bootstrap, prefix, skus, seed=config.seed)
        cleanup.push_async_callback(_quietly, load.stop)
        await load.start()
        pids = _component_pids(infrastructure, services)
        sampler = RssSampler(pids)
        sampler_task = asyncio.create_task(sampler.run(stop_sampling))
        cleanup.push_async_callback(_stop_sampling, stop_sampling, sampler_task)
        context = PhaseContext(
            load,
            observer,
            lag,
            services,
            progress,
            pids,
            config.stall_timeout_s,
            console_group_prefix(prefix) if config.console else None,
            ConsoleSessions(infrastructure.admin_database_url) if config.console else None,
        )
        if config.warmup_orders:
            progress.step(f"warm-up: {config.warmup_orders} orders at full speed, not measured")
            warm = await sustained_phase(context, config.warmup_orders, {})
            _account(outcome, warm.carts, warm.counts.stages["completed"], "warm-up", 0)
        for number in range(1, config.runs + 1):
            sampler.peaks.clear()
            run = {}
            if not config.outage_only:
                run = await _one_run(context, config, outcome, sampler, number)
            plan = config.outage_plan()
            if plan is not None:
                run["outage"] = await _outage_run(context, plan, services, outcome, run, number)
                run["peak_rss_bytes"] = dict(sampler.peaks)
            outcome.runs.append(run)
        progress.step("checking the invariants (orderflow-ops check) ...")
        outcome.check = await invariant_check(
            infrastructure, prefix, by_name["fulfillment"].base_url, config.log_dir
        )


async def _quietly(stop: Callable[[], Awaitable[None]]) -> None:
    """A cleanup step whose failure must neither stop the next ones nor replace the run's own
    outcome: a Kafka client of a broker that went away may even raise CancelledError on stop.
    A cancellation of this task itself still goes through."""
    try:
        with contextlib.suppress(Exception):
            await stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def _stop_sampling(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await task


async def _one_run(
    context: PhaseContext,
    config: BenchConfig,
    outcome: BenchOutcome,
    sampler: RssSampler,
    number: int,
) -> dict[str, Any]:
    progress = context.progress
    sampler.peaks.clear()
    raw = {
        name: outcome.raw_limits[name]["per_second"]
        for name in measured_limit_names(outcome.raw_limits)
    }
    progress.step(f"run {number}/{config.runs}: idle, {config.idle_seconds:g}s without orders")
    idle = await idle_phase(context, config.idle_seconds)
    progress.step(f"run {number}/{config.runs}: sustained, {config.orders} orders at full speed")
    sustained = await sustained_phase(context, config.orders, raw)
    _account(outcome, sustained.carts, sustained.counts.stages["completed"], "sustained", number)
    throughput = sustained.figures["throughput_orders_per_s"] or 0.0
    progress.step(f"  completed {throughput:.1f} orders/s")
    rate = config.rate or throughput / 2
    if rate <= 0:
        raise BenchFailed("no order completed in the sustained phase: no rate to pace at")
    paced_orders = paced_order_count(rate, config.paced_orders, config.paced_seconds)
    progress.step(f"run {number}/{config.runs}: paced, {paced_orders} orders at {rate:.1f}/s")
    paced = await paced_phase(context, paced_orders, rate)
    _account(outcome, paced.carts, paced.counts.stages["completed"], "paced", number)
    return {
        "idle": idle,
        "sustained": sustained.figures,
        "paced": paced.figures,
        "peak_rss_bytes": dict(sampler.peaks),
    }


async def _outage_run(
    context: PhaseContext,
    plan: OutagePlan,
    services: list[ServiceProcess],
    outcome: BenchOutcome,
    run: dict[str, Any],
    number: int,
) -> dict[str, Any]:
    """The outage phase after the run's others; their sustained throughput, when measured,
    says whether the asked rate is within the machine's reach."""
    context.progress.step(
        f"run {number}: outage, {plan.rate:g} orders/s, {plan.service} SIGKILLed "
        f"for {plan.seconds:g}s after {plan.warmup_s:g}s"
    )
    targets = [service for service in services if service.name == plan.service]
    sustained = run.get("sustained", {}).get("throughput_orders_per_s")
    outage = await outage_phase(context, plan, targets, sustained)
    _account(outcome, outage.carts, outage.counts.stages["completed"], "outage", number)
    return outage.figures


def _account(outcome: BenchOutcome, carts: list[str], completed: int, phase: str, run: int) -> None:
    outcome.orders += len(carts)
    outcome.completed += completed
    if completed < len(carts):
        outcome.problems.append(
            f"run {run}, {phase}: {len(carts) - completed} of {len(carts)} orders did not complete"
        )


def _component_pids(
    infrastructure: Infrastructure, services: list[ServiceProcess]
) -> Callable[[], dict[str, int]]:
    kafka_port = port_of(infrastructure.kafka_bootstrap_servers, KAFKA_DEFAULT_PORT)
    postgres_port = urlsplit(infrastructure.admin_database_url).port or POSTGRES_DEFAULT_PORT
    # The servers do not move during a run: look them up once (a scan of every fd).
    servers = {"kafka": listening_pid(kafka_port), "postgres": listening_pid(postgres_port)}

    def pids() -> dict[str, int]:
        # Further instances of a service are "<name>#<n>": their CPU is added to the
        # service's own (resources.cpu_between), their memory peaks are listed apart.
        found: dict[str, int] = {}
        for service in services:
            if service.process is not None:
                found[_instance_name(service.name, found)] = service.process.pid
        found |= {name: pid for name, pid in servers.items() if pid is not None}
        found["bench"] = os.getpid()
        return found

    return pids


def _log_name(service: str, number: int) -> str:
    return f"{service}.log" if number == 1 else f"{service}-{number}.log"


def _instance_name(service: str, taken: dict[str, int]) -> str:
    number = 1
    name = service
    while name in taken:
        number += 1
        name = f"{service}#{number}"
    return name


def _stop_all(services: list[ServiceProcess]) -> None:
    for service in reversed(services):
        service.stop()
