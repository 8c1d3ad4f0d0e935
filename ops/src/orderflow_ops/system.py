"""``orderflow-system run``: the whole system on one machine, in the foreground.

Finds or starts Kafka and PostgreSQL (see :mod:`orderflow_localinfra.discovery`), starts every
service as its own process with its own database role, waits until each reports ready, then
plays a warehouse and a stream of shoppers (:mod:`orderflow_ops.traffic`) and shows live
progress until Ctrl-C (or SIGTERM). It then stops the services, and the local Kafka and
PostgreSQL too when this command started them, so nothing is left running.

A service that dies once it ran is restarted with exponential backoff and counted in the
progress view (:mod:`orderflow_ops.supervisor`: the outbox and inbox make a restart safe). One
that keeps crashing fast (5 times within 60 s) stops the whole system, with the reason and the
tail of its log. A service that fails to start the first time stops everything at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated

import typer
from orderflow_chassis.structured_logging import configure_logging
from orderflow_chassis.waiting import run_to_the_end
from orderflow_localinfra.discovery import Infrastructure, ensure_infrastructure
from orderflow_localinfra.layout import StateLayout
from orderflow_localinfra.provisioning import DEFAULT_SERVICES, PROVISIONED_SERVICES

from orderflow_ops.traffic import TrafficOptions, drive

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

FIRST_HTTP_PORT = 8001
CONSOLE_HTTP_PORT = 8000
PROGRESS_LINE_EVERY_S = 10.0
READY_TIMEOUT_S = 90.0


@dataclass
class ServiceProcess:
    name: str
    http_port: int
    log_path: Path
    module: str = ""  # run as ``python -m <module> run``; default orderflow_<name>
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    _started_with: tuple[Infrastructure, dict[str, str]] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, infrastructure: Infrastructure, extra_env: dict[str, str]) -> None:
        self._started_with = (infrastructure, extra_env)
        prefix = self.name.upper()
        env = {
            **os.environ,
            **extra_env,
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
            f"{prefix}_DATABASE_URL": infrastructure.service_database_urls[self.name],
            f"{prefix}_HTTP_PORT": str(self.http_port),
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module or f"orderflow_{self.name}", "run"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Own session: a Ctrl-C reaches only this runner, which stops services in order.
            start_new_session=True,
        )

    def restart(self) -> None:
        """Start again as first started (after it exited: see the supervisor)."""
        if self._started_with is None:
            raise RuntimeError(f"{self.name} was never started")
        self.stop()
        self.start(*self._started_with)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def is_ready(self) -> bool:
        """Whether this service answers ready on its port. The answer must name it: a port
        found free may be taken before the service binds it, and whatever answers there is
        then another process (another run's service), while this one fails to start."""
        try:
            url = f"{self.base_url}/health/ready"  # always http on loopback
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                body = json.load(response)
                return bool(body["status"] == "ok" and body.get("service") == self.name)
        except (OSError, urllib.error.URLError, ValueError, KeyError, AttributeError):
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: what a machine failure looks like (used by chaos tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


class _Interrupted(Exception):
    pass


def _raise_interrupted(*_: object) -> None:
    raise _Interrupted


def console_process(
    services: Sequence[ServiceProcess], port: int, log_dir: Path
) -> tuple[ServiceProcess, dict[str, str], str]:
    """The ops console watching ``services``, its environment, and how to log in to it.

    Unless ``CONSOLE_USERS`` is set, a fresh operator password is generated for this run.
    """
    env = {"CONSOLE_SERVICES": ",".join(f"{s.name}={s.base_url}" for s in services)}
    if os.environ.get("CONSOLE_USERS"):
        how = "log in as a user of CONSOLE_USERS"
    else:
        password = secrets.token_urlsafe(12)
        env["CONSOLE_USERS"] = f"operator:operator:{password}"
        how = f"log in as operator, password {password}"
    console = ServiceProcess(
        "console", port, log_dir / "console.log", module="orderflow_ops.console"
    )
    return console, env, how


def run_system(
    services: Sequence[str], options: TrafficOptions, console_port: int | None = None
) -> int:
    log_dir = StateLayout.discover().root / "logs"
    typer.echo("orderflow: finding or starting Kafka and PostgreSQL ...")
    infrastructure = ensure_infrastructure(services=PROVISIONED_SERVICES, keep_local_running=False)
    typer.echo(
        f"  kafka    {infrastructure.kafka_bootstrap_servers} "
        f"({infrastructure.kafka_provenance})\n"
        f"  postgres {infrastructure.admin_database_url.split('@')[-1]} "
        f"({infrastructure.postgres_provenance})"
    )
    processes = [
        ServiceProcess(name, options.first_port + i, log_dir / f"{name}.log")
        for i, name in enumerate(services)
    ]
    # The simulators and the live view run in this process: their logs go to a file, so the
    # terminal shows progress only.
    log_dir.mkdir(parents=True, exist_ok=True)
    own_log = (log_dir / "system.log").open("a", encoding="utf-8")
    configure_logging("orderflow-system", level="INFO", stream=own_log)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    # The cart's order-status API wants a bearer token: the one set, or one made for this run.
    storefront_token = os.environ.get("CART_STOREFRONT_API_TOKEN") or secrets.token_urlsafe(24)
    try:
        for service in processes:
            service.start(
                infrastructure,
                {"LOG_FORMAT": options.log_format, "CART_STOREFRONT_API_TOKEN": storefront_token},
            )
        login = ""
        if console_port is not None:
            console, console_env, login = console_process(processes, console_port, log_dir)
            console.start(infrastructure, {"LOG_FORMAT": options.log_format, **console_env})
            processes.append(console)
        try:
            wait_until_ready(processes, on_ready=lambda s: typer.echo(f"  {s.name} ready"))
        except ServiceFailedToStart as failed:
            typer.echo(
                f"orderflow: {failed.service.name} failed to start; last lines of its log:",
                err=True,
            )
            typer.echo(failed.service.log_tail(), err=True)
            return 1
        typer.echo("orderflow: running. Ctrl-C stops everything.")
        for service in processes:
            if service.name == "console":
                continue
            typer.echo(f"  {service.name:<12} {service.base_url}/docs   log: {service.log_path}")
        if login:
            typer.echo(f"  console      {processes[-1].base_url}/   {login}")
        typer.echo(f"  simulators   (warehouse, storefront)      log: {own_log.name}")
        typer.echo(f"  order status for storefronts: Authorization: Bearer {storefront_token}")
        left: list[str] = []
        return run_to_the_end(
            drive(infrastructure, processes, options, tasks_left_running=left),
            left_running=lambda: left,
        )
    except (KeyboardInterrupt, _Interrupted):
        return 0
    finally:
        # A second Ctrl-C (or uv forwarding the first one again) must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        typer.echo("orderflow: stopping ...")
        for service in reversed(processes):
            service.stop()
        infrastructure.stop()
        own_log.close()
        typer.echo("orderflow: stopped; nothing left running that this command started.")


class ServiceFailedToStart(RuntimeError):
    def __init__(self, service: ServiceProcess) -> None:
        super().__init__(f"{service.name} exited with {service.exit_code()} while starting")
        self.service = service


def wait_until_ready(
    processes: Sequence[ServiceProcess],
    *,
    timeout_s: float = READY_TIMEOUT_S,
    on_ready: Callable[[ServiceProcess], None] | None = None,
) -> None:
    """Poll each service's /health/ready until all answer; fail at once if one exits."""
    deadline = time.monotonic() + timeout_s
    waiting = list(processes)
    while waiting:
        for service in list(waiting):
            if service.exit_code() is not None:
                raise ServiceFailedToStart(service)
            if service.is_ready():
                waiting.remove(service)
                if on_ready is not None:
                    on_ready(service)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(s.name for s in waiting)
            raise TimeoutError(f"not ready after {timeout_s:.0f}s: {names}; see their logs")
        time.sleep(0.2)


@app.callback()
def main() -> None:
    """The whole Orderflow system on this machine."""


@app.command()
def run(
    services: Annotated[
        list[str] | None, typer.Option("--service", help="run only these (repeatable)")
    ] = None,
    first_port: Annotated[int, typer.Option(help="HTTP port of the first service")] = (
        FIRST_HTTP_PORT
    ),
    log_format: Annotated[str, typer.Option(help="services' logs: json or console")] = "json",
    shoppers_per_second: Annotated[
        float, typer.Option(help="storefront simulator rate; 0 = no simulated traffic")
    ] = 1.0,
    warehouse_delay_s: Annotated[
        float, typer.Option(help="simulated warehouse: seconds to dispatch, then to deliver")
    ] = 3.0,
    seed: Annotated[int | None, typer.Option(help="make the simulated shoppers repeatable")] = None,
    console: Annotated[bool, typer.Option(help="start the ops console too")] = True,
    console_port: Annotated[int, typer.Option(help="HTTP port of the ops console")] = (
        CONSOLE_HTTP_PORT
    ),
) -> None:
    """Run Kafka, PostgreSQL, every service, a warehouse and a storefront until Ctrl-C."""
    chosen = services or list(DEFAULT_SERVICES)
    unknown = sorted(set(chosen) - set(DEFAULT_SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(unknown)}")
    options = TrafficOptions(
        first_port=first_port,
        log_format=log_format,
        shoppers_per_second=shoppers_per_second,
        warehouse_delay_s=warehouse_delay_s,
        seed=seed,
        topic_prefix=os.environ.get("KAFKA_TOPIC_PREFIX", ""),
    )
    if shoppers_per_second and set(chosen) != set(DEFAULT_SERVICES):
        raise typer.BadParameter(
            "simulated traffic needs every service; add --shoppers-per-second 0"
        )
    raise typer.Exit(run_system(chosen, options, console_port if console else None))


if __name__ == "__main__":
    app()
